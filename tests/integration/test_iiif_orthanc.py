"""IIIF against a real Orthanc with the plugin: the official validator, manifests, a reverse proxy.

Slides are made with OrthancWSIDicomizer (lossless from the validator's own grid image; JPEG and
JPEG 2000 from a tissue-like image), radiology frames with pydicom.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from iiif_prezi3 import Manifest
from PIL import Image
from pydicom.uid import generate_uid

from tests.support.orthanc_server import OrthancServer, free_port, require_orthanc
from tests.support.radiology import dicom_image

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "tests" / "data" / "iiif" / "iiif_3_0.json").read_text())
VALIDATOR_VERSION = "1.0.5"
VALIDATOR_VENV = ROOT / "tests" / ".cache" / f"iiif-validator-{VALIDATOR_VERSION}"
# Validator tests that hold for any image (the others compare pixels with the 1000x1000 grid image).
IMAGE_INDEPENDENT = ["baseurl_redirect", "cors", "format_error_random", "format_jpg", "format_png", "id_basic",
                     "id_error_escapedslash", "id_error_random", "id_error_unescaped", "id_escaped", "info_json",
                     "jsonld", "quality_bitonal", "quality_color", "quality_error_random", "quality_grey",
                     "region_error_random", "region_square", "rot_error_random", "size_error_random",
                     "size_nofull"]


# ---- a real Orthanc ---------------------------------------------------------------------------------------------

class RunningOrthanc:
    """The IIIF tests' view of a test Orthanc: its URL ends with "/" and paths may omit the first one."""

    def __init__(self, server: OrthancServer) -> None:
        self.server, self.url, self.log = server, server.url + "/", server.log_path

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        return self.server.get("/" + path.lstrip("/"), headers)

    def upload(self, data: bytes) -> dict:
        status, _, body = self.server.request("POST", "/instances", data)
        assert status == 200, body[:300]
        return json.loads(body)

    def stop(self) -> None:
        self.server.stop()


def http_get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=60) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def start_orthanc(directory: Path, port: int, public_url: str) -> RunningOrthanc:
    require_orthanc()
    options = {"EnableIIIF": True, "OrthancPublicURL": public_url, "ServeMirador": True, "ServeOpenSeadragon": True}
    server = OrthancServer(ROOT / "plugin" / "wsi_plugin.py", storage_dir=directory, port=port,
                           extra_config={"WholeSlideImaging": options})  # the client test pages too
    server.start()
    return RunningOrthanc(server)


# ---- test data ------------------------------------------------------------------------------------------------

def tissue_image(width: int, height: int, seed: int = 3) -> np.ndarray:
    """A pink/purple, tissue-like RGB image: smooth blobs plus fine grain, so JPEG has work to do."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.random((height // 64 + 2, width // 64 + 2), dtype=np.float32), mode="F")
    blobs = np.asarray(coarse.resize((width, height), Image.Resampling.BICUBIC))
    grain = rng.integers(-12, 13, size=(height, width))
    stain = np.clip((blobs - 0.3) * 2, 0, 1)[..., None]
    pink, purple = np.array([236, 190, 220]), np.array([120, 70, 170])
    pixels = pink * (1 - stain) + purple * stain + grain[..., None]
    return np.clip(pixels, 0, 255).astype(np.uint8)


def validation_image() -> Path:
    """The validator's own 1000x1000 grid image, shipped by iiif-validator(-ng)."""
    import iiif_validator

    return Path(iiif_validator.__file__).parent / "validation_image.png"


def dicomize(source: Path, folder: Path, compression: str, tile: int = 256) -> list[bytes]:
    if shutil.which("OrthancWSIDicomizer") is None:
        pytest.skip("OrthancWSIDicomizer is not installed")
    folder.mkdir(parents=True)
    subprocess.run(["OrthancWSIDicomizer", str(source), f"--compression={compression}", f"--tile-width={tile}",
                    f"--tile-height={tile}", "--levels=3", f"--folder={folder}"], check=True, capture_output=True)
    return [p.read_bytes() for p in sorted(folder.glob("*.dcm"))]


def ct_pixels(rows: int, cols: int, frames: int = 1) -> np.ndarray:
    ys, xs = np.mgrid[0:rows, 0:cols]
    # Ramps across the 40/400 window (raw 864..1264 with the -1024 intercept), different per frame.
    stack = np.stack([864 + (3 * xs + 5 * ys + 97 * f) % 400 for f in range(frames)]).astype(np.uint16)
    return stack if frames > 1 else stack[0]


@dataclass
class Served:
    slide: str  # lossless slide of the validator's grid image
    jpeg_slide: str
    jp2_slide: str
    ct_series: str  # frames: 512x512, 256x384 (2 frames), 3000x2500
    ct_instances: list[str]
    grid_instance: str  # RGB secondary capture of the grid image


def series_of(answers: list[dict]) -> str:
    ids = {a["ParentSeries"] for a in answers}
    assert len(ids) == 1
    return ids.pop()


def load_data(orthanc: RunningOrthanc, work: Path) -> Served:
    grid = validation_image()
    slide = series_of([orthanc.upload(d) for d in dicomize(grid, work / "grid", "none")])
    tissue = work / "tissue.png"
    Image.fromarray(tissue_image(3000, 2000)).save(tissue)
    jpeg = series_of([orthanc.upload(d) for d in dicomize(tissue, work / "jpeg", "jpeg")])
    jp2 = series_of([orthanc.upload(d) for d in dicomize(tissue, work / "jp2", "jpeg2000")])
    study, series = generate_uid(), generate_uid()
    answers = [orthanc.upload(dicom_image(ct_pixels(512, 512), series=series, study=study, number=1)),
               orthanc.upload(dicom_image(ct_pixels(256, 384, 2), series=series, study=study, number=2, frames=2)),
               orthanc.upload(dicom_image(ct_pixels(3000, 2500), series=series, study=study, number=3))]
    rgb = np.asarray(Image.open(grid).convert("RGB"))
    grid_answer = orthanc.upload(dicom_image(rgb, series=generate_uid(), study=study, number=1, modality="OT"))
    return Served(slide, jpeg, jp2, series_of(answers), [a["ID"] for a in answers], grid_answer["ID"])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("iiif")
    port = free_port()
    orthanc = start_orthanc(work / "orthanc", port, f"http://127.0.0.1:{port}/")
    try:
        yield orthanc, load_data(orthanc, work)
    finally:
        orthanc.stop()


# ---- the official Image API validator -----------------------------------------------------------------------

def validator_python() -> Path:
    """iiif-validator 1.0.5 in a virtualenv of its own: iiif-validator-ng overwrites its package."""
    python = VALIDATOR_VENV / "bin" / "python"
    if not (VALIDATOR_VENV / "bin" / "iiif-validate.py").exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(VALIDATOR_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        f"iiif-validator=={VALIDATOR_VERSION}"], check=True)
    return python


def run_validator(orthanc: RunningOrthanc, prefix: str, identifier: str, *options: str) -> tuple[int, int, str]:
    """(tests run, failures, output) of `iiif-validate.py --version=3.0` against one image service."""
    python = validator_python()
    server = orthanc.url.removeprefix("http://").rstrip("/")
    command = [str(python), str(python.parent / "iiif-validate.py"), "-s", server, "-p", prefix, "-i", identifier,
               "--version=3.0", *options]
    done_process = subprocess.run(command, capture_output=True, text=True, timeout=600)
    output = done_process.stdout + done_process.stderr  # results go to stderr
    done = re.search(r"Done \((\d+) tests, (\d+) failures\)", output)
    assert done, output
    return int(done.group(1)), int(done.group(2)), output


def test_validator_level_2_on_a_lossless_slide_of_the_validation_image(served):
    orthanc, data = served
    tests, failures, output = run_validator(orthanc, "wsi/iiif/tiles", data.slide, "--level=2")
    assert (tests, failures) == (33, 0), output


@pytest.mark.parametrize("form", ["series", "instance", "frames-pyramids"])
def test_validator_level_2_on_a_frame_of_the_validation_image(served, form):
    orthanc, data = served
    # The grid image as a single-frame RGB secondary capture: frame 0 of its own series or instance, or the C++
    # plugin 3.x's frame-pyramid service of the instance (512-px tiles).
    resource = data.grid_instance
    if form == "series":
        resource = json.loads(orthanc.get(f"instances/{data.grid_instance}")[2])["ParentSeries"]
    route = "frames-pyramids" if form == "frames-pyramids" else "frames"
    tests, failures, output = run_validator(orthanc, f"wsi/iiif/{route}/{resource}", "0", "--level=2")
    assert (tests, failures) == (33, 0), output


@pytest.mark.parametrize("which", ["jpeg_slide", "jp2_slide"])
def test_validator_image_independent_tests_on_real_slides(served, which):
    orthanc, data = served
    identifier = getattr(data, which)
    # The validator reads each answer with a fixed 5 s socket timeout, and its format and quality tests all ask
    # `full/max`: a cold render of the JPEG 2000 slide can take longer on a loaded 2-core machine. This test is
    # about conformance, not speed (that is the benchmark's), so the render is made once first.
    assert orthanc.get(f"wsi/iiif/tiles/{identifier}/full/max/0/default.png")[0] == 200
    options = [f"--test={name}" for name in IMAGE_INDEPENDENT]
    tests, failures, output = run_validator(orthanc, "wsi/iiif/tiles", identifier, *options)
    assert (tests, failures) == (len(IMAGE_INDEPENDENT), 0), output


def test_validator_image_independent_tests_on_a_tiled_radiograph(served):
    orthanc, data = served
    options = [f"--test={name}" for name in IMAGE_INDEPENDENT]
    tests, failures, output = run_validator(orthanc, f"wsi/iiif/frames/{data.ct_series}", "3", *options)
    assert (tests, failures) == (len(IMAGE_INDEPENDENT), 0), output


# ---- manifests and frames ------------------------------------------------------------------------------------

def get_json(orthanc: RunningOrthanc, path: str) -> dict:
    status, _, body = orthanc.get(path)
    assert status == 200, body
    return json.loads(body)


def check_manifest(manifest: dict) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(manifest)
    Manifest(**manifest)


@pytest.mark.parametrize("which", ["slide", "jpeg_slide", "jp2_slide", "ct_series"])
def test_manifests_validate(served, which):
    orthanc, data = served
    check_manifest(get_json(orthanc, f"wsi/iiif/series/{getattr(data, which)}/manifest.json"))


def test_radiology_manifest_sizes_each_canvas_by_its_own_frame(served):
    orthanc, data = served
    manifest = get_json(orthanc, f"wsi/iiif/series/{data.ct_series}/manifest.json")
    assert manifest["behavior"] == ["individuals"]
    assert [(c["width"], c["height"]) for c in manifest["items"]] == [(512, 512), (384, 256), (384, 256),
                                                                      (2500, 3000)]
    for canvas in manifest["items"]:
        body = canvas["items"][0]["items"][0]["body"]
        status, headers, image = http_get(body["id"])
        assert status == 200 and headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(image)).size == (canvas["width"], canvas["height"])


def test_frames_by_instance_match_frames_by_series(served):
    orthanc, data = served
    by_series = orthanc.get(f"wsi/iiif/frames/{data.ct_series}/2/full/max/0/default.png")
    by_instance = orthanc.get(f"wsi/iiif/frames/{data.ct_instances[1]}/1/full/max/0/default.png")
    assert by_series[0] == by_instance[0] == 200 and by_series[2] == by_instance[2]


def test_large_radiograph_is_tiled(served):
    orthanc, data = served
    info = get_json(orthanc, f"wsi/iiif/frames/{data.ct_series}/3/info.json")
    assert info["tiles"] == [{"type": "Tile", "width": 512, "height": 512, "scaleFactors": [1, 2, 4, 8]}]
    status, _, body = orthanc.get(f"wsi/iiif/frames/{data.ct_series}/3/2048,2048,452,952/57,119/0/default.jpg")
    assert status == 200 and Image.open(io.BytesIO(body)).size == (57, 119)


# ---- behind a reverse proxy (nginx on loopback) --------------------------------------------------------------

def start_nginx(directory: Path, port: int, upstream: str) -> subprocess.Popen:
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    temp = "".join(f" {kind}_temp_path {directory}/{kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                          "uwsgi", "scgi"))
    (directory / "nginx.conf").write_text(f"""
daemon off; worker_processes 1; pid {directory}/nginx.pid; error_log {directory}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;{temp}
  server {{
    listen 127.0.0.1:{port};
    location /pacs/ {{ proxy_pass {upstream}; proxy_set_header Host $host:$server_port; }}
  }}
}}
""")
    process = subprocess.Popen(["nginx", "-p", str(directory), "-c", str(directory / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError((directory / "error.log").read_text())


def all_ids(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["id"]] if isinstance(node.get("id"), str) else []
        return found + [i for v in node.values() for i in all_ids(v)]
    if isinstance(node, list):
        return [i for v in node for i in all_ids(v)]
    return []


def test_every_id_uses_the_public_url_through_a_real_proxy(tmp_path):
    orthanc_port, proxy_port = free_port(), free_port()
    public = f"http://localhost:{proxy_port}/pacs/"  # another host name, port and prefix than Orthanc's
    orthanc = start_orthanc(tmp_path / "orthanc", orthanc_port, public)
    nginx = start_nginx(tmp_path / "nginx", proxy_port, f"http://127.0.0.1:{orthanc_port}/")
    try:
        grid = validation_image()
        slide = series_of([orthanc.upload(d) for d in dicomize(grid, tmp_path / "grid", "jpeg")])
        study, series = generate_uid(), generate_uid()
        ct = series_of([orthanc.upload(dicom_image(ct_pixels(300, 200), series=series, study=study, number=1))])
        documents = []
        for path in (f"wsi/iiif/series/{slide}/manifest.json", f"wsi/iiif/series/{ct}/manifest.json",
                     f"wsi/iiif/tiles/{slide}/info.json", f"wsi/iiif/frames/{ct}/0/info.json"):
            status, _, body = http_get(public + path)
            assert status == 200, body
            documents.append(json.loads(body))
        ids = all_ids(documents)
        assert len(ids) > 10 and all(i.startswith(public) for i in ids), ids
        check_manifest(documents[0])
        check_manifest(documents[1])
        # Every image service and image named in them answers through the proxy.
        for url in {i for i in ids if "/wsi/iiif/tiles/" in i or "/wsi/iiif/frames/" in i}:
            target = url if re.search(r"\.(jpg|png)$", url) else url + "/info.json"
            assert http_get(target)[0] == 200, target
        status, headers, _ = http_get(f"{public}wsi/iiif/tiles/{slide}")
        assert status in (301, 302, 303) and headers["location"] == f"{public}wsi/iiif/tiles/{slide}/info.json"
    finally:
        nginx.terminate()
        nginx.wait(10)
        orthanc.stop()
