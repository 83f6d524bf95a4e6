"""docker-compose.yml, docker/Dockerfile and docker/orthanc-wsi.json, checked without Docker (docs/deploy.md).

Our machines have no Docker engine and no access to Docker Hub: these tests check what can be checked here
(the pinned image, that every file the build copies or the service mounts exists, that the shipped
configuration is accepted by our loader, that the C++ WSI plugin stays off, that the virtualenv lands where
the plugin looks for it). tests/integration/test_deploy_orthanc.py runs the shipped configuration in a real
Orthanc and opens the viewer at the URL Orthanc Explorer 2 builds.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from wsi.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
CONFIG = ROOT / "docker" / "orthanc-wsi.json"
DOCKERIGNORE = ROOT / ".dockerignore"

# The official image and tag docs/deploy.md justifies (orthanc-builder release notes: 26.8.1 = Orthanc 1.13.0,
# Python plugin 7.1, Ubuntu 26.04 with Python 3.14). Changing it means re-reading those facts.
IMAGE = "orthancteam/orthanc:26.8.1"
# Where the Dockerfile puts the project in the image: plugin/, webassets/ and the virtualenv side by side,
# as plugin/wsi_plugin.py looks for ../.venv and plugin/wsi/static.py for ../../webassets.
APP_DIR = "/opt/orthanc-wsi-py"


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, backslash-continued lines joined."""
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip()[:-1] + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(parts[0].upper(), parts[1] if len(parts) > 1 else "") for parts in (s.split(None, 1) for s in logical)]


@pytest.fixture(scope="module")
def service() -> dict:
    compose = yaml.safe_load(COMPOSE.read_text())
    assert list(compose["services"]) == ["orthanc"]
    return compose["services"]["orthanc"]


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def config() -> dict:
    return json.loads(CONFIG.read_text())


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def build_args(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """ARG defaults declared before the first FROM (the ones a FROM line may use)."""
    defaults = {}
    for name, args in instructions:
        if name == "FROM":
            break
        if name == "ARG" and "=" in args:
            key, value = args.split("=", 1)
            defaults[key] = value
    return defaults


def test_the_image_is_the_pinned_official_one(service, instructions):
    assert re.fullmatch(r"orthancteam/orthanc:\d+\.\d+\.\d+", IMAGE)
    assert build_args(instructions)["ORTHANC_IMAGE"] == IMAGE
    assert service["build"]["args"]["ORTHANC_IMAGE"] == IMAGE
    assert final_stage(instructions)[0] == ("FROM", "${ORTHANC_IMAGE}")
    assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == DOCKERFILE
    # Our own tag names the base it was built from; never "latest".
    assert service["image"].rsplit(":", 1)[1] == IMAGE.rsplit(":", 1)[1]


def test_every_file_the_build_copies_exists(instructions):
    for name, args in instructions:
        if name == "COPY" and not args.startswith("--from="):
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_the_virtualenv_is_made_by_the_image_python_where_the_plugin_looks(instructions):
    stage = final_stage(instructions)
    assert ("WORKDIR", APP_DIR) in stage
    run = " ".join(args for name, args in stage if name == "RUN")
    # /usr/bin/python3 of the Orthanc image: the interpreter libOrthancPython.so embeds.
    assert "python3 -m venv --without-pip .venv" in run
    assert "--python .venv/bin/python install" in run and "-r requirements.txt" in run
    # plugin/wsi_plugin.py adds <plugin>/../.venv/lib/pythonX.Y/site-packages; static.py serves ../../webassets.
    plugin_source = (ROOT / "plugin" / "wsi_plugin.py").read_text()
    assert 'os.path.join(os.path.dirname(_HERE), ".venv")' in plugin_source
    copies = {args.split()[-1] for name, args in stage if name == "COPY"}
    assert {"./plugin/", "./webassets/", "./webassets/vendor"} <= copies


def test_the_build_context_leaves_out_local_environments():
    ignored = set(DOCKERIGNORE.read_text().split())
    # A host .venv (another Python) or node_modules must never reach the image.
    assert {".venv", "webassets/node_modules", "webassets/vendor", "tests"} <= ignored


def test_every_mount_exists_and_is_read_only(service, config):
    mounts = {}
    for volume in service["volumes"]:
        source, target, *options = volume.split(":")
        if source.startswith("."):
            assert (ROOT / source).exists(), f"{source} is not in the repository"
            assert options == ["ro"], volume
            mounts[target] = ROOT / source
        else:
            assert target == "/var/lib/orthanc/db"  # the image's StorageDirectory, in a named volume
    # The script Orthanc runs is our entry script, seen through the plugin/ mount.
    script = config["PythonScript"]
    mounted = mounts[posixpath.dirname(script)]
    assert (mounted / posixpath.basename(script)) == ROOT / "plugin" / "wsi_plugin.py"
    assert posixpath.dirname(posixpath.dirname(script)) == APP_DIR
    # The image merges every /etc/orthanc/*.json into its configuration.
    config_target = next(t for t, s in mounts.items() if s == CONFIG)
    assert re.fullmatch(r"/etc/orthanc/[\w.-]+\.json", config_target)


def test_the_configuration_is_accepted_by_our_loader(config):
    settings = load_settings(config)
    assert settings.enable_iiif and settings.public_url == "http://localhost:8042/"
    assert config["Python"] == {"AllowThreads": True}  # orthanc-python 7.1 has it (4.3 and later)
    assert config["HttpCompressionEnabled"] is False


def test_the_cpp_wsi_plugin_stays_off(service, config):
    # The image enables the C++ plugin when WSI_PLUGIN_ENABLED is set (not "false") or a "Wsi" section exists
    # (orthanc-builder docker/orthanc/plugins-def.json, configurator.py); "Plugins" would bypass that choice.
    assert service["environment"]["WSI_PLUGIN_ENABLED"] == "false"
    assert "Wsi" not in config and "Plugins" not in config
    assert not any(key.startswith(("WSI_", "ORTHANC__WSI")) and key != "WSI_PLUGIN_ENABLED"
                   for key in service["environment"])


def test_orthanc_is_published_on_this_host_only_and_asks_for_a_password(service):
    assert service["ports"] == ["127.0.0.1:8042:8042"]
    # Orthanc 1.13 refuses to start with authentication on and no user; compose refuses to start without it.
    assert service["environment"]["ORTHANC_PASSWORD"].startswith("${ORTHANC_PASSWORD:?")
    assert "ORTHANC__AUTHENTICATION_ENABLED" not in service["environment"]


def test_the_explorer_2_button_opens_our_viewer(config):
    buttons = config["OrthancExplorer2"]["UiOptions"]["CustomButtons"]["series"]
    assert len(buttons) == 1 and buttons[0]["HttpMethod"] == "GET"
    # OE2 resolves a button's Url against /ui/app/ and puts the series' Orthanc id in {UUID}.
    resolved = posixpath.normpath(posixpath.join("/ui/app/", buttons[0]["Url"].split("?")[0]))
    assert resolved == "/wsi/app/viewer.html"
    assert buttons[0]["Url"].endswith("?series={UUID}")


def compose_command() -> list[str] | None:
    """A Compose that can read the file without a Docker engine: the `docker compose` plugin or docker-compose."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_compose_itself_accepts_the_file_and_wants_the_password():
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed (Debian: apt-get install docker-compose)")
    env = {key: value for key, value in os.environ.items() if key != "ORTHANC_PASSWORD"}
    run = [*command, "-f", str(COMPOSE), "config"]
    refused = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "set ORTHANC_PASSWORD" in refused.stdout + refused.stderr
    accepted = subprocess.run(run, cwd=ROOT, env={**env, "ORTHANC_PASSWORD": "x"}, capture_output=True, text=True,
                              timeout=60)
    assert accepted.returncode == 0, accepted.stderr
    resolved = yaml.safe_load(accepted.stdout)["services"]["orthanc"]
    assert resolved["build"]["args"]["ORTHANC_IMAGE"] == IMAGE
    assert resolved["environment"]["ORTHANC_PASSWORD"] == "x"
