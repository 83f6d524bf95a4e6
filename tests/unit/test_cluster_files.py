"""docker/cluster/ (PostgreSQL + N Orthanc replicas + nginx), checked without Docker (docs/scaleout.md).

What can be checked here: the compose file's shape (one PostgreSQL, two or more replicas of our image, nginx),
the settings that make a cluster correct and fast (index in PostgreSQL with `Lock: false`, one
`DatabaseServerIdentifier` per replica, one shared storage, `HttpCompressionEnabled: false`, cache per
replica, nginx upstream keep-alive naming every replica), the Orthanc configuration accepted by our loader,
and the nginx configuration accepted by the real nginx (`nginx -t`). tests/integration/test_cluster.py runs
the same cluster from Debian's packages.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from wsi.config import load_settings

from tests.unit.test_deploy_files import IMAGE

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "docker" / "cluster"
COMPOSE = FOLDER / "docker-compose.yml"
CONFIG = FOLDER / "orthanc-cluster.json"
NGINX_CONF = FOLDER / "nginx.conf"
SINGLE_CONFIG = ROOT / "docker" / "orthanc-wsi.json"


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def replicas(services: dict) -> dict[str, dict]:
    return {name: s for name, s in services.items() if name.startswith("orthanc-")}


@pytest.fixture(scope="module")
def config() -> dict:
    return json.loads(CONFIG.read_text())


def test_postgresql_replicas_and_nginx(services):
    assert set(services) == {"postgres", "nginx", *replicas(services)} and len(replicas(services)) >= 2
    for image in (services["postgres"]["image"], services["nginx"]["image"]):
        assert re.fullmatch(r"[\w.-]+:\d+\.\d+(\.\d+)?-\w+", image), f"{image}: pin an exact tag"
    for name, replica in replicas(services).items():
        assert replica["build"]["args"]["ORTHANC_IMAGE"] == IMAGE, name  # the image of docker-compose.yml
        assert (COMPOSE.parent / replica["build"]["context"] / replica["build"]["dockerfile"]).resolve() == \
            ROOT / "docker" / "Dockerfile"
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "ports" not in replica, f"{name}: reached through nginx only"
    assert services["nginx"]["ports"] == ["127.0.0.1:8042:80"]


def test_every_replica_has_its_own_identifier_and_shares_one_storage(services):
    identifiers, storages = [], set()
    for name, replica in replicas(services).items():
        environment = replica["environment"]
        identifiers.append(environment["ORTHANC__DATABASE_SERVER_IDENTIFIER"])
        assert environment["POSTGRESQL_PLUGIN_ENABLED"] == "true" and environment["WSI_PLUGIN_ENABLED"] == "false"
        assert environment["ORTHANC__POSTGRESQL__PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
        mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in replica["volumes"]}
        storages.add(mounts["/var/lib/orthanc/db"])
        for source in mounts.values():
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} is missing"
        assert (COMPOSE.parent / mounts["/etc/orthanc/orthanc-wsi.json"]).resolve() == CONFIG
    assert len(set(identifiers)) == len(identifiers) == len(replicas(services))
    assert len(storages) == 1 and not next(iter(storages)).startswith(".")  # one named volume


def test_the_configuration_is_a_cluster_configuration_our_loader_accepts(config):
    index = config["PostgreSQL"]
    assert index["EnableIndex"] is True and index["Lock"] is False and index["Host"] == "postgres"
    assert "Password" not in index  # from the environment, never in the repository
    assert config["HttpCompressionEnabled"] is False and config["KeepAlive"] is True
    settings = load_settings(config)
    assert settings.public_url == "http://localhost:8042/"  # nginx: every replica writes the same links
    assert settings.cache_size_mb == 256 and settings.series_check_seconds == 5
    # Everything the single-Orthanc configuration sets is kept (it is mounted in that file's place).
    single = json.loads(SINGLE_CONFIG.read_text())
    for key, value in single.items():
        if key != "WholeSlideImaging":
            assert config[key] == value, key
    assert single["WholeSlideImaging"].items() <= {**single["WholeSlideImaging"], **config["WholeSlideImaging"]}.items()


def test_nginx_spreads_over_every_replica_with_upstream_keepalive(services):
    text = NGINX_CONF.read_text()
    upstream = re.search(r"upstream\s+(\w+)\s*\{(.*?)\}", text, re.S)
    assert upstream is not None
    servers = re.findall(r"^\s*server\s+([\w.-]+):8042\b", upstream.group(2), re.M)
    assert sorted(servers) == sorted(replicas(services))
    assert re.search(r"^\s*keepalive\s+\d+;", upstream.group(2), re.M)
    assert f"proxy_pass http://{upstream.group(1)};" in text
    # Upstream keep-alive works only with HTTP/1.1 and without "Connection: close" passed on.
    assert "proxy_http_version 1.1;" in text and 'proxy_set_header Connection "";' in text


def test_the_real_nginx_accepts_the_configuration(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed (scripts/setup.sh test installs nginx-light)")
    # The replicas' names resolve only inside compose's network: 127.0.0.1 here, the rest unchanged.
    site = re.sub(r"server\s+orthanc-\w+:8042", "server 127.0.0.1:8042", NGINX_CONF.read_text())
    (tmp_path / "site.conf").write_text(site.replace("listen 80;", "listen 127.0.0.1:8080;"))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n")
    checked = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c",
                              str(tmp_path / "nginx.conf")], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
