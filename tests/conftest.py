"""Shared fixtures: real Orthanc servers (our plugin, the C++ plugin) and the standard test slides.

Servers and slides are session-scoped and made only when a test asks for them, so unit runs start nothing.
Each Orthanc keeps its storage, config and log in a pytest temporary folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.orthanc_server import CPP_WSI_PLUGIN, OrthancServer
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


def pytest_configure(config: pytest.Config) -> None:
    registered = " ".join(config.getini("markers"))
    for name, text in MARKERS.items():
        if f"{name}:" not in registered:
            config.addinivalue_line("markers", f"{name}: {text}")


def _require_orthanc() -> None:
    if shutil.which("Orthanc") is None:
        pytest.skip("Orthanc is not installed (scripts/setup.sh installs it)")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """Orthanc with our Python plugin only."""
    _require_orthanc()
    with OrthancServer(PLUGIN_SCRIPT, storage_dir=tmp_path_factory.mktemp("orthanc-python")) as server:
        yield server


@pytest.fixture(scope="session")
def orthanc_cpp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """Orthanc with the official C++ WSI plugin only: the reference for parity tests."""
    _require_orthanc()
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
