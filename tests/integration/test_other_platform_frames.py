"""Frame pyramids on the other platform's Orthanc (Debian 13's from a Debian 12 host): the host's tests
(test_frame_pyramids.py) again, then ours against the C++ WSI plugin 3.2's, on the synthetic radiographs of
tests/support/frame_images.py uploaded to both.

Same JSON keys and values except the documented differences (README, docs/cpp-plugin.md): 3.2 pads a frame to
multiples of 64 (`Sizes`, `TotalWidth`, `TotalHeight`), keeps every other pixel for coarser levels where ours
averages, ignores a VOI LUT Sequence, and answers 500 for a frame past the end where ours answers 404.
"""

from __future__ import annotations

import io
import json
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from tests.support.frame_images import Sample, samples
from tests.support.orthanc_server import OrthancServer

# pytest runs the tests in this order (their file's).
# isort: off
from tests.integration.test_frame_pyramids import (  # noqa: F401  (fixture and tests collected here)
    frames,
    test_pyramid_json,
    test_frames_of_a_multi_frame_instance_count_from_0,
    test_tiles_are_the_source_at_every_level,
    test_window_query_in_modality_units,
    test_jpeg_when_asked,
    test_errors,
    test_series_frames_in_iiif_order,
    test_iiif_frames_pyramids_service_and_manifest,
    test_next_tiles_are_fast,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]

CPP_KEYS = {"BackgroundColor", "FrameNumber", "ID", "Resolutions", "Sizes", "TilesCount", "TilesSizes",
            "TotalHeight", "TotalWidth"}
OURS_ONLY = {"Grey", "Window", "Presets"}
SAME_VALUES = ("BackgroundColor", "FrameNumber", "ID", "Resolutions", "TilesCount", "TilesSizes")


@pytest.fixture(scope="module")
def orthanc(orthanc_other: OrthancServer) -> OrthancServer:
    return orthanc_other


@pytest.fixture(scope="module")
def both(orthanc_other: OrthancServer, orthanc_other_cpp: OrthancServer) -> dict[str, Sample]:
    if not str(orthanc_other_cpp.get_json("/plugins/wsi")["Version"]).startswith("3."):
        pytest.skip("the C++ plugin 1.1 (Debian 12) has no frame pyramids")
    made = samples(mammogram=(1300, 1700), photo=(1500, 1100))
    for sample in made.values():
        for server in (orthanc_other, orthanc_other_cpp):
            status, _, body = server.request("POST", "/instances", sample.data, {"Content-Type": "application/dicom"})
            assert status == 200, body[:200]
            sample.instance_id = json.loads(body)["ID"]  # the same in both: it hashes the DICOM UIDs
    return made


def _tile(server: OrthancServer, path: str) -> np.ndarray:
    status, _, body = server.get(path)
    assert status == 200, (path, status, body[:200])
    pixels = np.asarray(Image.open(io.BytesIO(body))).astype(np.float64)
    return pixels if pixels.ndim == 3 else np.stack([pixels] * 3, axis=-1)  # 3.2 sends grey frames as RGB


def _rgb(expected: np.ndarray) -> np.ndarray:
    return expected if expected.ndim == 3 else np.stack([expected] * 3, axis=-1)


def test_pyramid_json_agrees_with_the_cpp_plugin_3_2(orthanc_other, orthanc_other_cpp, both):
    for name, sample in both.items():
        for frame in range(len(sample.stored)):
            path = f"/wsi/frames-pyramids/{sample.instance_id}/{frame}"
            theirs, mine = orthanc_other_cpp.get_json(path), orthanc_other.get_json(path)
            assert set(theirs) == CPP_KEYS and set(mine) - OURS_ONLY == CPP_KEYS, name
            assert {k: mine[k] for k in SAME_VALUES} == {k: theirs[k] for k in SAME_VALUES}, (name, frame)
            # Sizes: ours the frame's own, 3.2's padded to multiples of 64 then halved.
            height, width = sample.stored[frame].shape[:2]
            padded = (-(-width // 64) * 64, -(-height // 64) * 64)
            assert [mine["TotalWidth"], mine["TotalHeight"]] == [width, height]
            assert [theirs["TotalWidth"], theirs["TotalHeight"]] == list(padded)
            assert len(mine["Sizes"]) == len(theirs["Sizes"]), name
            assert theirs["Sizes"] == [[padded[0] >> z, padded[1] >> z] for z in range(len(theirs["Sizes"]))]
            assert mine["Sizes"][0] == [width, height]
        past = f"/wsi/frames-pyramids/{sample.instance_id}/{len(sample.stored)}"
        assert orthanc_other_cpp.get(past)[0] == 500 and orthanc_other.get(past)[0] == 404, name


@pytest.mark.parametrize(("name", "tolerance"), [("photo", 0), ("monochrome1", 1), ("ct", 2)])
def test_level_0_tiles_agree_inside_the_frame(orthanc_other, orthanc_other_cpp, both, name, tolerance):
    """The frame as its DICOM says to show it (rescale, first window, MONOCHROME1; RGB as stored): the same pixels
    from both plugins inside the frame, at every tile of level 0."""
    sample = both[name]
    pyramid = orthanc_other.get_json(f"/wsi/frames-pyramids/{sample.instance_id}/0")
    (width, height), (nx, ny) = pyramid["Sizes"][0], pyramid["TilesCount"][0]
    for x in range(nx):
        for y in range(ny):
            path = f"/wsi/frames-tiles/{sample.instance_id}/0/0/{x}/{y}"
            h, w = min(512, height - 512 * y), min(512, width - 512 * x)
            theirs, mine = _tile(orthanc_other_cpp, path)[:h, :w], _tile(orthanc_other, path)[:h, :w]
            assert np.abs(theirs - mine).max() <= tolerance, (name, x, y)


def test_coarser_levels_are_averaged_where_3_2_takes_every_other_pixel(orthanc_other, orthanc_other_cpp, both):
    for name in ("photo", "monochrome1"):
        sample = both[name]
        path = f"/wsi/frames-tiles/{sample.instance_id}/0/1/0/0"
        expected = _rgb(sample.tile(1, 0, 0))[:512, :512]
        mine, theirs = _tile(orthanc_other, path), _tile(orthanc_other_cpp, path)
        assert np.abs(mine - expected).max() <= 1.0, name
        assert np.abs(theirs - expected).mean() > 1.0, name  # aliased: far from the box average
        decimated = _rgb(sample.shown(0))
        assert min(np.abs(theirs - decimated[dy:1024:2, dx:1024:2]).max()
                   for dy in (0, 1) for dx in (0, 1)) <= 1.0, name


def test_a_voi_lut_is_followed_where_3_2_ignores_it(orthanc_other, orthanc_other_cpp, both):
    mammogram = both["mammogram"]
    path = f"/wsi/frames-tiles/{mammogram.instance_id}/0/0/0/0"
    expected = _rgb(mammogram.tile(0, 0, 0))
    assert np.abs(_tile(orthanc_other, path) - expected).max() <= 1.0
    assert np.abs(_tile(orthanc_other_cpp, path) - expected).mean() > 10.0


def test_accept_as_3_2(orthanc_other, orthanc_other_cpp, both):
    """PNG by default, JPEG when asked, as 3.2; 3.2 refuses WebP, we answer it lossless (grey into RGB)."""
    path = f"/wsi/frames-tiles/{both['ct'].instance_id}/0/0/0/0"
    for server in (orthanc_other, orthanc_other_cpp):
        assert server.get(path)[1]["content-type"] == "image/png"
        assert server.get(path, {"Accept": "image/jpeg"})[1]["content-type"] == "image/jpeg"
    assert orthanc_other_cpp.get(path, {"Accept": "image/webp"})[0] == 406
    status, headers, body = orthanc_other.get(path, {"Accept": "image/webp"})
    assert status == 200 and headers["content-type"] == "image/webp"
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(body)).convert("RGB")), _rgb(_tile(orthanc_other, path)))


def test_iiif_frames_pyramids_agree(orthanc_other, orthanc_other_cpp, both):
    """info.json: the same tiles and scale factors, level 2 against 3.2's level 0; the manifest's one canvas
    points at the same service path."""
    for name, sample in both.items():
        base = f"/wsi/iiif/frames-pyramids/{sample.instance_id}/0"
        theirs, mine = orthanc_other_cpp.get_json(f"{base}/info.json"), orthanc_other.get_json(f"{base}/info.json")
        assert theirs["profile"] == "level0" and mine["profile"] == "level2"
        for key in ("@context", "type", "protocol"):
            assert mine[key] == theirs[key], (name, key)
        assert [{k: v for k, v in t.items() if k != "type"} for t in mine["tiles"]] == theirs["tiles"], name
        assert urllib.parse.urlsplit(mine["id"]).path == urllib.parse.urlsplit(theirs["id"]).path == base
        height, width = sample.stored[0].shape[:2]
        assert (mine["width"], mine["height"]) == (width, height)
        services = []
        for server in (orthanc_other, orthanc_other_cpp):
            manifest = server.get_json(f"{base}/manifest.json")
            (canvas,) = manifest["items"]
            services.append(urllib.parse.urlsplit(canvas["items"][0]["items"][0]["body"]["service"][0]["id"]).path)
        assert services == [base, base], name
