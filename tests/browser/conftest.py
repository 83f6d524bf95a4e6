"""Browser tests: a real Orthanc with the plugin (tests/support/orthanc_server.py), slides made by
OrthancWSIDicomizer and tests/browser/slides.py, headless Debian chromium.

Screenshots go to /test-artifacts/browser/ at the top of the checkout (git-ignored) for a person to look at.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser import frames as frame_data
from tests.browser.slides import NPOT, SPARSE, write_slide
from tests.browser.viewer_page import CHROMIUM, CHROMIUM_ARGS, SLIDE_MM, SLIDE_PX, TILE_PX, VIEWPORT
from tests.support.orthanc_server import OrthancServer, require_orthanc
from tests.support.source import textured_image

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"



class Orthanc:
    """The test Orthanc (tests/support/orthanc_server.py) seen as the browser sees it: `url` ends with "/"."""

    def __init__(self, server: OrthancServer) -> None:
        self.server = server
        self.url = server.url + "/"

    def json(self, path: str) -> object:
        return self.server.get_json("/" + path.lstrip("/"))

    def status(self, path: str) -> int:
        return self.server.get("/" + path.lstrip("/"))[0]

    def upload(self, data: bytes) -> dict:
        status, _, body = self.server.request("POST", "/instances", data, {"Content-Type": "application/dicom"})
        assert status == 200, body[:300]
        return json.loads(body)


def _dicomize(orthanc: Orthanc, source: Path, folder: Path, compression: str, size_mm: float) -> str:
    if shutil.which("OrthancWSIDicomizer") is None:
        pytest.skip("OrthancWSIDicomizer is not installed")
    folder.mkdir(parents=True)
    subprocess.run(["OrthancWSIDicomizer", str(source), f"--compression={compression}", "--pyramid=1",
                    f"--tile-width={TILE_PX}", f"--tile-height={TILE_PX}", f"--imaged-width={size_mm}",
                    f"--imaged-height={size_mm}", f"--folder={folder}", "--threads=2"],
                   check=True, capture_output=True, timeout=300)
    series = {orthanc.upload(p.read_bytes())["ParentSeries"] for p in sorted(folder.glob("*.dcm"))}
    assert len(series) == 1
    return series.pop()


def _ct_instance() -> bytes:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, generate_uid()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality, ds.SeriesDescription = "CT-1", "Ct^Test", "CT", "CT head"
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(64 * 64, dtype=np.uint16) % 4096).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@dataclass
class Slides:
    source: np.ndarray  # full-resolution RGB of the JPEG and JPEG 2000 slides
    jpeg: str
    jpeg2000: str
    ct: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def spacing_um(self) -> float:
        return SLIDE_MM * 1000 / SLIDE_PX


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    require_orthanc()
    server = OrthancServer(ROOT / "plugin" / "wsi_plugin.py", storage_dir=tmp_path_factory.mktemp("orthanc"))
    server.config["Name"] = "browser-test"
    # The IIIF test pages fetch what the manifest and info.json name: they must name this server.
    server.config["WholeSlideImaging"] = {"EnableIIIF": True, "OrthancPublicURL": server.url + "/",
                                          "VirtualEnv": sys.prefix, "ServeMirador": True,
                                          "ServeOpenSeadragon": True}
    with server:
        yield Orthanc(server)


@pytest.fixture(scope="session")
def slides(orthanc: Orthanc, tmp_path_factory: pytest.TempPathFactory) -> Slides:
    work = tmp_path_factory.mktemp("browser-slides")
    pixels = textured_image(SLIDE_PX, SLIDE_PX, seed=7)
    source = work / "tissue.png"
    Image.fromarray(pixels).save(source)
    jpeg = _dicomize(orthanc, source, work / "jpeg", "jpeg", SLIDE_MM)
    jpeg2000 = _dicomize(orthanc, source, work / "jpeg2000", "jpeg2000", SLIDE_MM)
    ct = orthanc.upload(_ct_instance())["ParentSeries"]
    return Slides(pixels, jpeg, jpeg2000, ct)


@pytest.fixture(scope="session")
def written(orthanc: Orthanc) -> dict[str, str]:
    """Series ids of the written slides, by name."""
    out = {}
    for name, spec in (("npot", NPOT), ("sparse", SPARSE)):
        answers = [orthanc.upload(data) for data in write_slide(spec)]
        series = {a["ParentSeries"] for a in answers}
        assert len(series) == 1
        out[name] = series.pop()
    return out


@pytest.fixture(scope="session")
def frames(orthanc: Orthanc) -> frame_data.Frames:
    """Non-whole-slide instances for the deep-zoom viewer (tests/browser/frames.py)."""
    grey, grey_values = frame_data.grey_radiograph()
    rgb, rgb_pixels = frame_data.rgb_photograph()
    ct, ct_values = frame_data.ct_frames()
    ct_answer = orthanc.upload(ct)
    return frame_data.Frames(
        grey_instance=orthanc.upload(grey)["ID"], grey_values=grey_values,
        rgb_instance=orthanc.upload(rgb)["ID"], rgb_pixels=rgb_pixels,
        ct_series=ct_answer["ParentSeries"], ct_instance=ct_answer["ID"], ct_values=ct_values,
        no_pixels_instance=orthanc.upload(frame_data.no_pixels())["ID"])


@pytest.fixture(scope="session")
def browser(playwright, tmp_path_factory: pytest.TempPathFactory, orthanc: Orthanc):
    """One chromium profile for the session, allowed to use the clipboard on the test Orthanc."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, args=CHROMIUM_ARGS,
        viewport=VIEWPORT)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=orthanc.url.rstrip("/"))
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser):
    """A fresh tab that collects page errors; the test fails if the page threw."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    tab.close()
    assert not errors, errors


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
