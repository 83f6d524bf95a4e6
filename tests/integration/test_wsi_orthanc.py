"""The tile service on a real Orthanc, slides from three producers, parity with the C++ plugin.

Every slide is made from a known source image, so tiles are checked against the source pixels:
exactly where the encoding is lossless, by PSNR where it is lossy (26 dB: the source's sharp grid
lines cost JPEG's chroma subsampling a few dB, while a misplaced or miscoloured tile scores below 15).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from wsi.colour import is_srgb_profile

from tests.support.orthanc_server import OrthancServer
from tests.support.source import psnr
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "plugin" / "wsi_plugin.py"
LOSSLESS = {
    "explicit": "1.2.840.10008.1.2.1", "implicit": "1.2.840.10008.1.2", "big-endian": "1.2.840.10008.1.2.2",
    "deflated": "1.2.840.10008.1.2.1.99", "jpeg-lossless-57": "1.2.840.10008.1.2.4.57",
    "jpeg-lossless-70": "1.2.840.10008.1.2.4.70", "jpeg-ls": "1.2.840.10008.1.2.4.80",
    "jpeg2000-lossless": "1.2.840.10008.1.2.4.90", "htj2k-lossless": "1.2.840.10008.1.2.4.201",
    "htj2k-rpcl": "1.2.840.10008.1.2.4.202", "jpegxl-lossless": "1.2.840.10008.1.2.4.110",
    "rle": "1.2.840.10008.1.2.5",
}
LOSSY = {
    "jpeg-baseline": "1.2.840.10008.1.2.4.50", "jpeg-extended": "1.2.840.10008.1.2.4.51",
    "jpeg-ls-near": "1.2.840.10008.1.2.4.81", "jpeg2000": "1.2.840.10008.1.2.4.91",
    "htj2k": "1.2.840.10008.1.2.4.203", "jpegxl": "1.2.840.10008.1.2.4.112",
    "jpegxl-jpeg": "1.2.840.10008.1.2.4.111",
}


def decode(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def without_icc(jpeg: bytes) -> bytes:
    """The JPEG with its APP2 ICC_PROFILE segments removed."""
    out, position = bytearray(jpeg[:2]), 2
    while position < len(jpeg) and jpeg[position] == 0xFF and jpeg[position + 1] not in (0xDA, 0xD9):
        length = int.from_bytes(jpeg[position + 2:position + 4], "big")
        segment = jpeg[position:position + 2 + length]
        if not (segment[1] == 0xE2 and segment[4:16] == b"ICC_PROFILE\0"):
            out += segment
        position += 2 + length
    return bytes(out + jpeg[position:])


def series_of(server: OrthancServer, paths: list[Path]) -> str:
    ids = server.upload(paths)
    status, _, body = server.get(f"/instances/{ids[0]}")
    assert status == 200
    return json.loads(body)["ParentSeries"]


def get_json(server: OrthancServer, path: str) -> dict:
    status, _, body = server.get(path)
    assert status == 200, (path, status, body[:200])
    return json.loads(body)


def tile(server: OrthancServer, series: str, z: int, x: int, y: int, accept: str | None = None,
         query: str = "") -> tuple[str, np.ndarray, bytes]:
    status, headers, body = server.get(f"/wsi/tiles/{series}/{z}/{x}/{y}{query}",
                                       {"Accept": accept} if accept else None)
    assert status == 200, (z, x, y, status, body[:200])
    content_type = {k.lower(): v for k, v in headers.items()}["content-type"]
    return content_type, decode(body), body


def source_tile(source: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """The source crop a level-0 tile holds (smaller at the right and bottom edges)."""
    return source[y * height:(y + 1) * height, x * width:(x + 1) * width]


def check_level0(server: OrthancServer, series: str, source: np.ndarray, lossless: bool, min_psnr: float = 26,
                 query: str = "", expect: np.ndarray | None = None) -> None:
    pyramid = get_json(server, f"/wsi/pyramids/{series}")
    width, height = pyramid["TilesSizes"][0]
    expected_image = source if expect is None else expect
    columns, rows = pyramid["TilesCount"][0]
    for x, y in {(0, 0), (columns - 1, rows - 1), (columns // 2, rows // 2), (columns - 1, 0)}:
        _, pixels, _ = tile(server, series, 0, x, y, query=query)
        assert pixels.shape[:2] == (height, width)  # edge tiles keep their full stored size
        expected = source_tile(expected_image, x, y, width, height)
        got = pixels[: expected.shape[0], : expected.shape[1]]
        if lossless:
            assert np.array_equal(got, expected), (x, y)
        else:
            assert psnr(got, expected) > min_psnr, (x, y, psnr(got, expected))


# ---- servers and slides: the session fixtures of tests/conftest.py ------------------------------------

@pytest.fixture(scope="module")
def ours(orthanc: OrthancServer) -> OrthancServer:
    return orthanc


@pytest.fixture(scope="module")
def source(slide_source: np.ndarray) -> np.ndarray:
    return slide_source


# ---- OrthancWSIDicomizer slides: source pixels, and parity with the C++ plugin ------------------------

@pytest.mark.parametrize(("name", "lossless"), [
    ("dicomizer-jpeg", False), ("dicomizer-jpeg2000", True), ("dicomizer-none", True),
    ("highdicom-jpeg", False), ("highdicom-none", True), ("wsidicomizer", False),
])
def test_independent_producers_match_the_source(ours, slides, source, name, lossless):
    check_level0(ours, slides[name], source, lossless)


PARITY_SLIDES = ("dicomizer-jpeg", "dicomizer-jpeg2000", "dicomizer-none", "highdicom-jpeg", "highdicom-none",
                 "wsidicomizer", "ours-jpeg", "ours-explicit", "ours-npot")


@pytest.mark.parametrize("name", PARITY_SLIDES)
def test_parity_with_the_cpp_plugin(ours, orthanc_cpp, slides, slides_cpp, standard_slides, name):
    cpp = orthanc_cpp
    series = slides[name]
    assert slides_cpp[name] == series
    theirs = get_json(cpp, f"/wsi/pyramids/{series}")
    mine = get_json(ours, f"/wsi/pyramids/{series}")
    for key, value in theirs.items():
        # The C++ plugin works out Resolutions in single precision.
        assert mine[key] == (pytest.approx(value, rel=1e-6) if key == "Resolutions" else value), key
    status, _, icc = ours.get(f"/instances/{ours.upload(standard_slides[name][:1])[0]}/content/0048-0105/0/0028-2000")
    # An sRGB profile (what these producers write) is left out: untagged images are sRGB already.
    icc = icc if status == 200 and not is_srgb_profile(icc) else None
    for z, (columns, rows) in enumerate(theirs["TilesCount"]):
        for y in range(rows):
            for x in range(columns):
                status, headers, body = cpp.get(f"/wsi/tiles/{series}/{z}/{x}/{y}")
                assert status == 200
                their_type = {k.lower(): v for k, v in headers.items()}["content-type"]
                my_type, pixels, my_body = tile(ours, series, z, x, y)
                assert my_type == their_type, (z, x, y)
                if my_type == "image/jpeg":
                    # Passed through byte for byte, plus the series' ICC profile (APP2) unless sRGB.
                    assert without_icc(my_body) == body, (z, x, y)
                    assert Image.open(io.BytesIO(my_body)).info.get("icc_profile") == icc
                    assert icc is not None or my_body == body
                else:
                    assert np.array_equal(pixels, decode(body)), (z, x, y)


# ---- our writer: every transfer syntax, sparse, concatenation, planes, paths, associated --------------

@pytest.mark.parametrize("name", sorted(LOSSLESS))
def test_lossless_transfer_syntaxes_are_exact(ours, source, tmp_path, name):
    series = series_of(ours, write_slide(tmp_path, source, tile_size=(256, 256), downsamples=(1, 2),
                                         transfer_syntax=LOSSLESS[name]))
    check_level0(ours, series, source, lossless=True)
    content_type, _, _ = tile(ours, series, 0, 0, 0)
    assert content_type == "image/png"


@pytest.mark.parametrize("name", sorted(LOSSY))
def test_lossy_transfer_syntaxes_are_close(ours, source, tmp_path, name):
    series = series_of(ours, write_slide(tmp_path, source, tile_size=(256, 256), downsamples=(1, 2),
                                         transfer_syntax=LOSSY[name]))
    check_level0(ours, series, source, lossless=False)


def test_sparse_holes_are_background(ours, source, tmp_path):
    holes = {(0, 1, 1), (0, 0, 0)}
    paths = write_slide(tmp_path, source, tile_size=(256, 256), downsamples=(1, 2), organization="TILED_SPARSE",
                        holes=holes, transfer_syntax=LOSSLESS["explicit"], background_lab=(0, 32896, 32896))
    series = series_of(ours, paths)
    assert get_json(ours, f"/wsi/pyramids/{series}")["BackgroundColor"] == "#000000"
    for _, x, y in holes:
        _, pixels, _ = tile(ours, series, 0, x, y)
        assert not pixels.any()
    _, pixels, _ = tile(ours, series, 0, 2, 1)
    assert np.array_equal(pixels, source_tile(source, 2, 1, 256, 256))


def test_concatenation_and_odd_levels(ours, source, tmp_path):
    paths = write_slide(tmp_path, source, tile_size=(200, 150), downsamples=(1, 3, 7), frames_per_instance=5,
                        transfer_syntax=LOSSLESS["explicit"])
    series = series_of(ours, paths)
    pyramid = get_json(ours, f"/wsi/pyramids/{series}")
    assert [w for w, _ in pyramid["Sizes"]] == [1100, -(-1100 // 3), -(-1100 // 7)]
    assert pyramid["Resolutions"][1] == pytest.approx(3, rel=0.01)
    check_level0(ours, series, source, lossless=True)


def test_focal_planes_and_optical_paths(ours, source, tmp_path):
    from tests.support.writer import plane_image

    paths = write_slide(tmp_path, source, tile_size=(256, 256), downsamples=(1,), focal_planes=[-2.0, 0.0, 2.0],
                        optical_paths=["A", "B"], organization="TILED_SPARSE", transfer_syntax=LOSSLESS["explicit"])
    series = series_of(ours, paths)
    pyramid = get_json(ours, f"/wsi/pyramids/{series}")
    assert [p["ID"] for p in pyramid["OpticalPaths"]] == ["A", "B"]
    assert pyramid["FocalPlanes"] == [-2.0, 0.0, 2.0] and pyramid["DefaultFocalPlane"] == 1
    check_level0(ours, series, source, lossless=True, expect=plane_image(source, 0, 1))  # the defaults
    check_level0(ours, series, source, lossless=True, query="?optical-path=B&focal-plane=2",
                 expect=plane_image(source, 1, 2))


def test_a_profile_other_than_srgb_is_embedded_in_every_tile(ours, source, tmp_path):
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    other = srgb.replace("sRGB".encode("utf-16-be"), "xRGB".encode("utf-16-be")).replace(b"sRGB", b"xRGB")
    for syntax, media_type in ((LOSSY["jpeg-baseline"], "image/jpeg"), (LOSSLESS["explicit"], "image/png")):
        series = series_of(ours, write_slide(tmp_path / syntax, source, downsamples=(1,), icc=other,
                                             transfer_syntax=syntax, associated=("label",)))
        content_type, _, body = tile(ours, series, 0, 1, 1)
        assert content_type == media_type and Image.open(io.BytesIO(body)).info.get("icc_profile") == other
        # Associated images go through the same encoder: the slide's profile in them too.
        status, _, label = ours.get(f"/wsi/associated/{series}/label")
        assert status == 200 and Image.open(io.BytesIO(label)).info.get("icc_profile") == other
    series = series_of(ours, write_slide(tmp_path / "srgb", source, downsamples=(1,), icc=srgb,
                                         transfer_syntax=LOSSY["jpeg-baseline"]))
    assert "icc_profile" not in Image.open(io.BytesIO(tile(ours, series, 0, 1, 1)[2])).info


def test_associated_images(ours, source, tmp_path):
    paths = write_slide(tmp_path, source, tile_size=(256, 256), downsamples=(1, 4),
                        associated=("LABEL", "OVERVIEW", "THUMBNAIL"), transfer_syntax=LOSSLESS["explicit"])
    series = series_of(ours, paths)
    assert get_json(ours, f"/wsi/pyramids/{series}")["AssociatedImages"] == ["label", "overview", "thumbnail"]
    for kind in ("label", "overview", "thumbnail"):
        status, _headers, body = ours.get(f"/wsi/associated/{series}/{kind}")
        assert status == 200 and decode(body).std() > 5


# ---- bad input: documented statuses, never 500 ---------------------------------------------------------

@pytest.fixture(scope="module")
def jpeg_series(slides) -> str:
    return slides["dicomizer-jpeg"]


@pytest.mark.parametrize(("path", "status"), [
    ("/wsi/pyramids/not-an-id", 400),
    ("/wsi/pyramids/00000000-00000000-00000000-00000000-00000000", 404),
    ("/wsi/pyramids/%2e%2e%2fsystem", 404),  # Orthanc decodes it first: no route matches
    ("/wsi/tiles/{s}/0/0/99", 404),
    ("/wsi/tiles/{s}/99/0/0", 404),
    ("/wsi/tiles/{s}/x/0/0", 400),
    ("/wsi/tiles/{s}/0/-1/0", 400),
    ("/wsi/tiles/{s}/0/0/0?focal-plane=7", 400),
    ("/wsi/tiles/{s}/0/0/0?optical-path=zz", 400),
    ("/wsi/tiles/{s}/0/99999999999999999999/0", 400),
    ("/wsi/associated/{s}/label", 404),
    ("/wsi/associated/{s}/passwd", 400),
])
def test_bad_requests_get_their_status(ours, jpeg_series, path, status):
    got, _, _ = ours.get(path.replace("{s}", jpeg_series))
    assert got == status


@pytest.mark.parametrize(("accept", "status", "content_type"), [
    ("image/png", 200, "image/png"), ("image/jp2", 200, "image/jp2"), ("*/*", 200, "image/jpeg"),
    ("image/*;q=0.5, image/png;q=0.1", 200, "image/jpeg"), ("text/html", 406, None),
])
def test_accept_header(ours, jpeg_series, accept, status, content_type):
    got, headers, body = ours.get(f"/wsi/tiles/{jpeg_series}/0/0/0", {"Accept": accept})
    assert got == status
    if content_type:
        assert {k.lower(): v for k, v in headers.items()}["content-type"] == content_type
        assert len(body) > 100


def test_a_ct_series_is_not_whole_slide(ours, tmp_path):
    from pydicom.data import get_testdata_file

    series = series_of(ours, [Path(get_testdata_file("CT_small.dcm"))])
    assert ours.get(f"/wsi/pyramids/{series}")[0] == 404
    assert ours.get(f"/wsi/tiles/{series}/0/0/0")[0] == 404


def test_a_configuration_error_is_logged_naming_the_key(tmp_path):
    config = {"WholeSlideImaging": {"CacheSizeMB": "lots"}}
    with OrthancServer(SCRIPT, storage_dir=tmp_path, extra_config=config) as server:
        assert server.get("/wsi/pyramids/00000000-00000000-00000000-00000000-00000000")[0] == 404  # no routes
        log = server.log_path.read_text()
    assert "WholeSlideImaging.CacheSizeMB: expected a whole number" in log


def test_iiif_request_of_a_whole_stored_tile_sends_the_stored_jpeg(ours, slides):
    series = slides["dicomizer-jpeg"]
    _, _, stored = tile(ours, series, 0, 1, 1)
    status, headers, body = ours.get(f"/wsi/iiif/tiles/{series}/256,256,256,256/256,256/0/default.jpg")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert body == stored  # no re-encoding
    status, _, scaled = ours.get(f"/wsi/iiif/tiles/{series}/256,256,256,256/128,128/0/default.jpg")
    assert status == 200 and scaled != stored and decode(scaled).shape == (128, 128, 3)
