"""POST /wsi/dicomize in a real Orthanc: slides in, whole-slide series out (tiles equal to the source, OpenSlide
reads them back), jobs followed and cancelled, bad input refused with a clear 4xx and nothing left behind."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import time
import zlib
from pathlib import Path

import numpy as np
import openslide
import pytest
import tifffile
from PIL import Image
from wsi.dicomizer.jpeg_streams import with_tables

from tests.conftest import PLUGIN_SCRIPT, ROOT
from tests.support.dicom_checks import dciodvfy_errors
from tests.support.orthanc_server import OrthancServer, require_orthanc
from tests.support.slide_files import MPP, aperio_tiff, pattern

pytestmark = pytest.mark.integration
MAX_BODY_MB = 8


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> OrthancServer:
    require_orthanc()
    config = {"WholeSlideImaging": {"DicomizeMaxBodyMB": MAX_BODY_MB}}
    with OrthancServer(PLUGIN_SCRIPT, storage_dir=tmp_path_factory.mktemp("dicomize"), extra_config=config) as s:
        yield s


@pytest.fixture(scope="module")
def aperio(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("aperio") / "slide.svs"
    aperio_tiff(path)
    return path


def post(server: OrthancServer, body: bytes, query: str = "synchronous=true",
         headers: dict[str, str] | None = None) -> tuple[int, dict | str]:
    # The SDK gives a POST no query parameters: options travel in X-WSI-Options (query syntax).
    headers = {"Content-Type": "application/octet-stream", **(headers or {})}
    if query:
        headers["X-WSI-Options"] = query
    status, _, answer = server.request("POST", "/wsi/dicomize", body, headers)
    try:
        return status, json.loads(answer)
    except ValueError:
        return status, answer.decode()


def instance_count(server: OrthancServer) -> int:
    return len(server.get_json("/instances"))


def download(server: OrthancServer, instances: list[str], folder: Path) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for index, instance in enumerate(instances):
        status, _, data = server.get(f"/instances/{instance}/file")
        assert status == 200
        paths.append(folder / f"{index:03d}.dcm")
        paths[-1].write_bytes(data)
    return paths


def test_tiff_slide_tiles_equal_the_source(server, aperio):
    status, job = post(server, aperio.read_bytes())
    assert status == 200, job
    assert job["State"] == "Success" and job["Progress"] == 100
    assert len(job["Instances"]) == 6 and job["Levels"] == [[1000, 760], [500, 380], [250, 190]]
    series = job["Series"]
    pyramid = server.get_json(f"/wsi/pyramids/{series}")
    assert pyramid["Sizes"] == [[1000, 760], [500, 380], [250, 190]]
    assert sorted(pyramid["AssociatedImages"]) == ["label", "overview", "thumbnail"]
    assert pyramid["PixelSpacings"][0] == pytest.approx([MPP / 1000] * 2)
    with tifffile.TiffFile(aperio) as tif:
        for z, level in enumerate(tif.series[0].levels):
            page = level.keyframe
            across = -(-page.imagewidth // page.tilewidth)
            for index, (offset, count) in enumerate(zip(page.dataoffsets, page.databytecounts, strict=True)):
                status, headers, tile = server.get(f"/wsi/tiles/{series}/{z}/{index % across}/{index // across}")
                assert status == 200 and headers["content-type"] == "image/jpeg"
                tif.filehandle.seek(offset)
                source = with_tables(tif.filehandle.read(count), page.jpegtables)
                # The TIFF's stream (tables merged) as it was; DICOM pads a fragment to an even length.
                assert tile[:len(source)] == source and tile[len(source):] in (b"", b"\0")
        label = tif.series[2].asarray()
    status, _, png = server.get(f"/wsi/associated/{series}/label")
    assert status == 200
    got = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert got.shape == label.shape and np.abs(got - label).mean() < 2  # LZW label stored as JPEG q90


def test_a_job_is_followed_to_its_end(server, aperio):
    status, job = post(server, aperio.read_bytes(), query="compression=jpeg2000&tile-size=128")
    assert status == 202 and job["State"] in ("Pending", "Running") and job["Path"] == f"/wsi/jobs/{job['ID']}"
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = server.get_json(job["Path"])
        seen.append(state["Progress"])
        if state["State"] not in ("Pending", "Running"):
            break
        time.sleep(0.05)
    assert state["State"] == "Success", state
    assert seen == sorted(seen) and seen[-1] == 100
    assert any(j["ID"] == job["ID"] for j in server.get_json("/wsi/jobs"))
    tile = server.get(f"/wsi/tiles/{state['Series']}/0/0/0")
    assert tile[0] == 200 and tile[1]["content-type"] == "image/png"  # JPEG 2000 is decoded, sent lossless


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_png_and_jpeg_become_slides_openslide_reads(server, tmp_path, kind):
    image = pattern(1200, 900, 7)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=kind, **({"quality": 95} if kind == "jpeg" else {}))
    status, job = post(server, buffer.getvalue(), query="synchronous=true&tile-size=256&mpp=0.25")
    assert status == 200, job
    paths = download(server, job["Instances"], tmp_path / "dcm")
    for path in paths:
        assert dciodvfy_errors(path) == [], path
    slide = openslide.OpenSlide(str(paths[0]))
    assert slide.level_dimensions == ((1200, 900), (600, 450), (300, 225), (150, 113))
    assert float(slide.properties["openslide.mpp-x"]) == 0.25
    got = np.asarray(slide.read_region((0, 0), 0, (1200, 900)).convert("RGB")).astype(int)
    assert np.abs(got - image).mean() < 4  # encoded once as JPEG q90 (and once more for the JPEG source)
    tile = server.get(f"/wsi/tiles/{job['Series']}/0/1/1")
    ours = np.asarray(Image.open(io.BytesIO(tile[2])).convert("RGB"))
    assert np.array_equal(ours, np.asarray(slide.read_region((256, 256), 0, (256, 256)).convert("RGB")))


def test_options_and_dataset_in_a_json_part(server):
    status, _, sample = server.get("/wsi/dicomize/sample-dataset")
    assert status == 200 and "PatientName" in json.loads(sample)
    buffer = io.BytesIO()
    Image.fromarray(pattern(300, 200)).save(buffer, format="png")
    options = {"dataset": {"PatientName": "Doe^Jane", "PatientID": "P-7"}, "compression": "none",
               "synchronous": True}
    boundary = "xYzBoundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"options\"\r\n\r\n{json.dumps(options)}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"small.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + buffer.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    status, job = post(server, body, query="", headers={"Content-Type": f"multipart/mixed; boundary={boundary}"})
    assert status == 200 and isinstance(job, dict), job
    tags = server.get_json(f"/wsi/pyramids/{job['Series']}")["Tags"]
    assert tags["PatientName"] == "Doe^Jane" and tags["PatientID"] == "P-7"


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming these dimensions, with one tiny IDAT: what a hostile upload looks like."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def _bad_inputs(aperio: Path) -> dict[str, tuple[bytes, str, int, str]]:
    data = aperio.read_bytes()
    return {
        "not an image": (b"hello, this is text" * 10, "", 400, "image"),
        "truncated TIFF": (data[: len(data) // 2], "", 400, "truncated"),
        "0x0": (_png_header_only(0, 0), "", 400, "image"),
        "absurd dimensions": (_png_header_only(1_000_000, 1_000_000), "", 400, "over"),
        "empty body": (b"", "", 400, "body"),
        "wrong compression": (data, "compression=webp", 400, "compression"),
        "wrong tile size": (data, "tile-size=13", 400, "tile-size"),
        "unknown option": (data, "colour=red", 400, "colour"),
        "structural tag": (data, 'dataset={"Rows":3}', 400, "Rows"),
        "too large": (b"\0" * ((MAX_BODY_MB << 20) + 1), "", 413, "DicomizeMaxBodyMB"),
    }


@pytest.mark.parametrize("case", list(_bad_inputs(Path("/dev/null")).keys()) if False else [
    "not an image", "truncated TIFF", "0x0", "absurd dimensions", "empty body", "wrong compression",
    "wrong tile size", "unknown option", "structural tag", "too large"])
def test_bad_input_is_a_clear_4xx_and_leaves_nothing(server, aperio, case):
    body, query, expected, words = _bad_inputs(aperio)[case]
    before = instance_count(server)
    status, answer = post(server, body, query="synchronous=true" + (f"&{query}" if query else ""))
    assert status == expected, answer
    assert words in str(answer)
    assert instance_count(server) == before


def test_a_failure_midway_deletes_what_was_stored(server, aperio, tmp_path):
    """Levels 0 and 1 are stored before level 2's corrupt tile fails the job: all of it is deleted again."""
    data = bytearray(aperio.read_bytes())
    with tifffile.TiffFile(aperio) as tif:
        page = tif.series[0].levels[2].keyframe
        offset, count = page.dataoffsets[0], page.databytecounts[0]
    data[offset + 2:offset + count] = b"\xff\x00" * ((count - 2) // 2) + b"\0" * ((count - 2) % 2)
    before = instance_count(server)
    status, answer = post(server, bytes(data), query="synchronous=true&compression=jpeg")
    assert status == 400 and "could not be decoded" in answer, answer
    assert instance_count(server) == before
    assert server.get_json("/wsi/jobs")[-1]["State"] == "Failure"


def test_cancel_stops_and_undoes(server):
    buffer = io.BytesIO()
    Image.fromarray(pattern(4000, 3000, 9)).save(buffer, format="png", compress_level=1)
    before = instance_count(server)
    status, job = post(server, buffer.getvalue(), query="compression=jpeg2000&tile-size=256&max-size=1")
    assert status == 202
    deadline = time.monotonic() + 60
    while server.get_json(job["Path"])["Progress"] < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    status = server.request("POST", f"{job['Path']}/cancel")[0]
    assert status == 200
    while server.get_json(job["Path"])["State"] == "Running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.get_json(job["Path"])["State"] == "Cancelled"
    assert instance_count(server) == before


def test_methods_and_unknown_jobs(server):
    status, headers, _ = server.get("/wsi/dicomize")
    assert status == 405 and headers["allow"] == "POST"
    assert server.request("POST", "/wsi/jobs")[0] == 405
    assert server.get("/wsi/jobs/" + "0" * 32)[0] == 404
    assert server.get("/wsi/jobs/nope")[0] == 400
    assert server.get("/wsi/pyramids/" + "0" * 8)[0] in (400, 404)  # GET routes unchanged


def _command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "scripts" / "dicomize"), *args], capture_output=True, text=True, timeout=300)


def test_the_command_stores_into_orthanc(server, aperio):
    result = _command(str(aperio), "--orthanc", server.url, "--username", "any", "--password", "any", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert len(summary["Instances"]) == 6
    assert server.get_json(f"/wsi/pyramids/{summary['Series']}")["Sizes"] == summary["Levels"]


def test_the_command_undoes_a_failure_and_refuses_bad_options(server, aperio, tmp_path):
    data = bytearray(aperio.read_bytes())
    with tifffile.TiffFile(aperio) as tif:
        page = tif.series[0].levels[2].keyframe
        offset, count = page.dataoffsets[0], page.databytecounts[0]
    data[offset + 2:offset + count] = b"\xff\x00" * ((count - 2) // 2) + b"\0" * ((count - 2) % 2)
    (tmp_path / "bad.svs").write_bytes(bytes(data))
    before = instance_count(server)
    result = _command(str(tmp_path / "bad.svs"), "--orthanc", server.url, "--compression", "jpeg", "--quiet")
    assert result.returncode == 1 and "nothing kept" in result.stderr
    assert instance_count(server) == before
    result = _command(str(aperio), "--folder", str(tmp_path), "--tile-size", "7")
    assert result.returncode == 2 and "tile-size" in result.stderr
    assert not list(tmp_path.glob("*.dcm"))


def test_round_trip_tiff_to_dicom_to_tiff(server, aperio, tmp_path):
    """slide TIFF -> /wsi/dicomize -> /wsi/tiles (the source's streams) -> /wsi/export -> OpenSlide: the same
    pixels as OpenSlide reads from the source, level by level; MPP, objective power, label and macro kept."""
    status, job = post(server, aperio.read_bytes())
    assert status == 200, job
    series = job["Series"]
    with tifffile.TiffFile(aperio) as tif:
        page = tif.series[0].levels[1].keyframe
        tif.filehandle.seek(page.dataoffsets[1])
        source_tile = with_tables(tif.filehandle.read(page.databytecounts[1]), page.jpegtables)
    assert server.get(f"/wsi/tiles/{series}/1/1/0")[2].rstrip(b"\0") == source_tile.rstrip(b"\0")
    status, _, exported = server.get(f"/wsi/export/{series}")
    assert status == 200, exported[:300]
    (tmp_path / "back.svs").write_bytes(exported)
    source, back = openslide.OpenSlide(str(aperio)), openslide.OpenSlide(str(tmp_path / "back.svs"))
    try:
        assert back.level_dimensions == source.level_dimensions == ((1000, 760), (500, 380), (250, 190))
        for key in ("openslide.mpp-x", "openslide.mpp-y", "openslide.objective-power"):
            assert float(back.properties[key]) == float(source.properties[key]), key
        assert {"label", "macro"} <= set(back.associated_images)
        for level, (width, height) in enumerate(source.level_dimensions):
            expected = np.asarray(source.read_region((0, 0), level, (width, height)))
            got = np.asarray(back.read_region((0, 0), level, (width, height)))
            assert np.array_equal(got, expected), level  # the same JPEG streams, decoded by the same library
    finally:
        source.close()
        back.close()
