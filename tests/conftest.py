"""Shared fixtures: real Orthanc servers (our plugin, the C++ plugin) and the standard test slides.

Servers and slides are session-scoped and made only when a test asks for them, so unit runs start nothing.
Each Orthanc keeps its storage, config and log in a pytest temporary folder.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.orthanc_server import CPP_WSI_PLUGIN, OrthancServer, require_orthanc
from tests.support.other_platform import OTHER, PlatformRoot, RootUnavailable, built_root, ensure_root
from tests.support.producers import (
    DICOMIZER,
    WSIDICOMIZER,
    dicomize_with_orthanc_wsi,
    dicomize_with_wsidicomizer,
    write_with_highdicom,
)
from tests.support.source import textured_image
from tests.support.writer import write_slide

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_SCRIPT = ROOT / "plugin" / "wsi_plugin.py"
MARKERS = {"integration": "starts a real Orthanc", "browser": "drives headless Chromium"}
# 1100 x 700 with 256 px tiles: 5 x 3 tiles, partial tiles at the right and bottom edges.
SOURCE_SIZE = (1100, 700)
SOURCE_SEED = 3
# Orthanc servers of the other platform's root run with orthanc-python's AllowThreads on: on 5.0 (Debian 13) our
# code then runs truly concurrently, the demanding case (README, "AllowThreads"); 4.0 (Debian 12) ignores it.
OTHER_CONFIG = {"Python": {"AllowThreads": True}}
# What each platform's session servers measured (/system, /plugins, the Orthanc log), for the summary.
_PLATFORMS_SEEN: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    registered = " ".join(config.getini("markers"))
    for name, text in MARKERS.items():
        if f"{name}:" not in registered:
            config.addinivalue_line("markers", f"{name}: {text}")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """Orthanc with our Python plugin only."""
    require_orthanc()
    with OrthancServer(PLUGIN_SCRIPT, storage_dir=tmp_path_factory.mktemp("orthanc-python")) as server:
        _PLATFORMS_SEEN[f"{_host_system()} (host)"] = describe_platform(server)
        yield server


@pytest.fixture(scope="session")
def orthanc_cpp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """Orthanc with the official C++ WSI plugin only: the reference for parity tests."""
    require_orthanc()
    if not Path(CPP_WSI_PLUGIN).exists():
        pytest.skip(f"{CPP_WSI_PLUGIN} is missing (Debian package orthanc-wsi)")
    with OrthancServer(None, load_cpp_wsi=True, storage_dir=tmp_path_factory.mktemp("orthanc-cpp")) as server:
        yield server


@pytest.fixture(scope="session")
def slide_source() -> np.ndarray:
    """The source image every standard slide is made from."""
    return textured_image(*SOURCE_SIZE, seed=SOURCE_SEED)


@pytest.fixture(scope="session")
def standard_slides(slide_source: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Files of the standard slides by name; producers' outputs are cached under tests/.cache/."""
    out = tmp_path_factory.mktemp("slides")
    slides = {
        "ours-jpeg": write_slide(out / "ours-jpeg", slide_source),
        "ours-explicit": write_slide(out / "ours-explicit", slide_source, transfer_syntax="1.2.840.10008.1.2.1"),
        "ours-npot": write_slide(out / "ours-npot", slide_source, downsamples=(1, 3, 7)),
        "ours-sparse": write_slide(out / "ours-sparse", slide_source, organization="TILED_SPARSE",
                                   holes={(0, 1, 1)}),
        "highdicom-jpeg": write_with_highdicom(slide_source, compression="jpeg"),
        "highdicom-none": write_with_highdicom(slide_source, compression="none"),
    }
    if Path(DICOMIZER).exists():  # Debian package orthanc-wsi
        for compression in ("jpeg", "jpeg2000", "none"):
            slides[f"dicomizer-{compression}"] = dicomize_with_orthanc_wsi(slide_source, compression=compression)
        # From a JPEG-tiled TIFF it copies the tiles, in 2 x 2 blocks rather than raster order.
        slides["dicomizer-tiff"] = dicomize_with_orthanc_wsi(slide_source, source_format="tiff")
    if WSIDICOMIZER.exists():  # its own virtualenv, made by `scripts/setup.sh test`
        slides["wsidicomizer"] = dicomize_with_wsidicomizer(slide_source)
    return slides


@pytest.fixture(scope="session")
def slides(orthanc: OrthancServer, standard_slides: dict[str, list[Path]]) -> dict[str, str]:
    """Series ids of the standard slides in the Orthanc with our plugin."""
    return {name: orthanc.upload_series(paths) for name, paths in standard_slides.items()}


@pytest.fixture(scope="session")
def slides_cpp(orthanc_cpp: OrthancServer, standard_slides: dict[str, list[Path]]) -> dict[str, str]:
    """Series ids of the standard slides in the Orthanc with the C++ plugin (the same ids as in `slides`)."""
    return {name: orthanc_cpp.upload_series(paths) for name, paths in standard_slides.items()}


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver per session: a second sync driver in the same process cannot start."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as driver:
        yield driver


# ---- the other platform (Debian 13 on a Debian 12 host, Debian 12 on a Debian 13 host) in a chroot ----------

@pytest.fixture(scope="session")
def other_root(request: pytest.FixtureRequest) -> PlatformRoot:
    """The other platform's root of tests/support/other_platform.py, built on first use (minutes, once), reused.

    Skipped with the reason when it cannot be built here (no network...), except in CI (variable CI set),
    where every platform must be tested: there it is an error.
    """
    try:
        root = ensure_root(_say_to_terminal(request.config))
    except RootUnavailable as error:
        if os.environ.get("CI"):
            pytest.fail(f"the {OTHER.name} root is required in CI: {error}", pytrace=False)
        pytest.skip(f"no {OTHER.name} root: {error}")
    return root.with_config(OTHER_CONFIG)


@pytest.fixture(scope="module")
def on_other_platform(other_root: PlatformRoot) -> Iterator[PlatformRoot]:
    """For a test module: every OrthancServer started without a root runs in the other platform's root."""
    OrthancServer.default_root = other_root
    try:
        yield other_root
    finally:
        OrthancServer.default_root = None


@pytest.fixture(scope="session")
def orthanc_other(other_root: PlatformRoot, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """The other platform's Orthanc with our Python plugin only (AllowThreads on where orthanc-python has it)."""
    with OrthancServer(PLUGIN_SCRIPT, root=other_root,
                       storage_dir=tmp_path_factory.mktemp(f"orthanc-{OTHER.folder}")) as server:
        _PLATFORMS_SEEN[f"{OTHER.name} (root)"] = describe_platform(server)
        yield server


@pytest.fixture(scope="session")
def orthanc_other_cpp(other_root: PlatformRoot,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """The other platform's Orthanc with its official C++ WSI plugin only."""
    with OrthancServer(None, load_cpp_wsi=True, root=other_root,
                       storage_dir=tmp_path_factory.mktemp(f"orthanc-{OTHER.folder}-cpp")) as server:
        _PLATFORMS_SEEN[f"{OTHER.name} (root), C++ plugin"] = describe_platform(server)
        yield server


@pytest.fixture(scope="session")
def slides_other(orthanc_other: OrthancServer, standard_slides: dict[str, list[Path]]) -> dict[str, str]:
    """Series ids of the standard slides in the other platform's Orthanc with our plugin."""
    return {name: orthanc_other.upload_series(paths) for name, paths in standard_slides.items()}


@pytest.fixture(scope="session")
def slides_other_cpp(orthanc_other_cpp: OrthancServer, standard_slides: dict[str, list[Path]]) -> dict[str, str]:
    """Series ids of the standard slides in the other platform's Orthanc with its C++ plugin."""
    return {name: orthanc_other_cpp.upload_series(paths) for name, paths in standard_slides.items()}


def describe_platform(server: OrthancServer) -> str:
    """What a running server is, as measured: Orthanc (/system), its plugins' versions, the embedded Python."""
    parts = [f"Orthanc {server.get_json('/system')['Version']}"]
    for plugin in server.get_json("/plugins"):
        if plugin in ("python", "wsi"):
            parts.append(f"{'orthanc-python' if plugin == 'python' else 'C++ WSI plugin'} "
                         f"{server.get_json(f'/plugins/{plugin}')['Version']}")
    # orthanc-python logs the library it loads, e.g. "libpython3.13.so.1.0".
    if python := re.search(r"libpython(\d+\.\d+)", server.log_path.read_text(errors="replace")):
        parts.append(f"Python {python.group(1)}")
    return ", ".join(parts)


def _say_to_terminal(config: pytest.Config):
    capture = config.pluginmanager.getplugin("capturemanager")

    def say(text: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n{text}", flush=True)

    return say


def _host_system() -> str:
    try:
        return f"Debian {Path('/etc/debian_version').read_text().split('.')[0].strip()}"
    except OSError:
        return "not Debian"


def _host_packages(*names: str) -> dict[str, str]:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}\n", *names], capture_output=True,
                          text=True, check=False)
    return dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)


def pytest_report_header(config: pytest.Config) -> list[str]:
    host = _host_packages("orthanc", "orthanc-python", "orthanc-wsi", "python3")
    lines = [f"platform {_host_system()} (host): Orthanc {host.get('orthanc', 'not installed')}, orthanc-python "
             f"{host.get('orthanc-python', '-')}, Python {host.get('python3', '-')}, C++ WSI plugin "
             f"{host.get('orthanc-wsi', '-')}"]
    root = built_root()
    lines.append(f"platform {root.describe()}" if root else
                 f"platform {OTHER.name}: root not built yet (tests/.cache/{OTHER.folder}, built by the first test "
                 "that needs it)")
    return lines


def pytest_terminal_summary(terminalreporter) -> None:
    """Which Orthanc, orthanc-python and Python each part ran on (also shown in -q runs, unlike the header), and
    why any test of the other platform was skipped (e.g. a 5.0-only feature on Debian 12's orthanc-python 4.0)."""
    outcomes: dict[str, int] = {}
    skips: dict[str, int] = {}
    for key in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(key, []):
            if "test_other_platform_" in getattr(report, "nodeid", ""):
                outcomes[key] = outcomes.get(key, 0) + 1
                if key == "skipped" and isinstance(report.longrepr, tuple):
                    reason = report.longrepr[2].removeprefix("Skipped: ")
                    skips[reason] = skips.get(reason, 0) + 1
    if not (_PLATFORMS_SEEN or outcomes):
        return
    terminalreporter.section("Orthanc platforms")
    for name, text in _PLATFORMS_SEEN.items():
        terminalreporter.line(f"{name}, measured: {text}")
    if outcomes:
        root = built_root()
        terminalreporter.line(root.describe() if root else f"{OTHER.name} root: not built")
        terminalreporter.line(f"{OTHER.name} tests (tests/integration/test_other_platform_*.py): "
                              + ", ".join(f"{n} {key}" for key, n in outcomes.items()))
        for reason, n in skips.items():
            terminalreporter.line(f"  {n} skipped: {reason}")
