"""On-the-fly frame pyramids in a real Orthanc: /wsi/frames-pyramids, /wsi/frames-tiles, /wsi/series-frames and
/wsi/iiif/frames-pyramids, on large synthetic radiographs made here (tests/support/frame_images.py): a 16-bit
mammogram with rescale and a VOI LUT, a 12-bit MONOCHROME1 radiograph, a three-frame CT and an RGB photograph.
Tiles are compared with the source at every level (averaged levels, the DICOM's display rules)."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from tests.support.frame_images import TILE, Sample, samples
from tests.support.orthanc_server import OrthancServer

pytestmark = pytest.mark.integration

# The C++ plugin 3.2's keys (measured on Debian 13), then ours (the viewer's contract).
CPP_KEYS = {"BackgroundColor", "FrameNumber", "ID", "Resolutions", "Sizes", "TilesCount", "TilesSizes",
            "TotalHeight", "TotalWidth"}
GREY_KEYS = {"Grey", "Window", "Presets"}


def upload(server: OrthancServer, sample: Sample) -> None:
    status, _, body = server.request("POST", "/instances", sample.data, {"Content-Type": "application/dicom"})
    assert status == 200, body[:300]
    answer = json.loads(body)
    sample.instance_id, sample.series_id = answer["ID"], answer["ParentSeries"]


@pytest.fixture(scope="module")
def frames(orthanc: OrthancServer) -> dict[str, Sample]:
    made = samples()
    for sample in made.values():
        upload(orthanc, sample)
    return made


def tile_of(server: OrthancServer, path: str, headers: dict | None = None) -> np.ndarray:
    status, answer_headers, body = server.get(path, headers)
    assert status == 200, (path, status, body[:200])
    assert answer_headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(body))).astype(np.float64)


def tiles_to_check(pyramid: dict) -> list[tuple[int, int, int]]:
    """At each level: the first tile, the last one (an edge tile, padded) and one in the middle."""
    chosen = []
    for z, (nx, ny) in enumerate(pyramid["TilesCount"]):
        chosen += sorted({(z, 0, 0), (z, nx - 1, ny - 1), (z, nx // 2, ny // 2)})
    return chosen


@pytest.mark.parametrize("name", ["mammogram", "monochrome1", "ct", "photo"])
def test_pyramid_json(orthanc, frames, name):
    sample = frames[name]
    pyramid = orthanc.get_json(f"/wsi/frames-pyramids/{sample.instance_id}/0")
    height, width = sample.stored[0].shape[:2]
    assert set(pyramid) == CPP_KEYS | ({"Grey"} | (GREY_KEYS if sample.grey else set()))
    sizes = [[width, height]]
    while max(sizes[-1]) > TILE:
        sizes.append([-(-sizes[-1][0] // 2), -(-sizes[-1][1] // 2)])
    assert pyramid["ID"] == sample.instance_id and pyramid["FrameNumber"] == 0
    assert pyramid["Sizes"] == sizes
    assert pyramid["Resolutions"] == [float(2 ** z) for z in range(len(sizes))]
    assert pyramid["TilesSizes"] == [[TILE, TILE]] * len(sizes)
    assert pyramid["TilesCount"] == [[-(-w // TILE), -(-h // TILE)] for w, h in sizes]
    assert (pyramid["TotalWidth"], pyramid["TotalHeight"]) == (width, height)
    assert pyramid["BackgroundColor"] == ("#000000" if sample.grey else "#ffffff")
    assert pyramid["Grey"] is sample.grey
    if sample.grey:
        center, width_ = sample.default_window()
        assert pyramid["Window"] == {"Center": pytest.approx(center), "Width": pytest.approx(width_)}
        names = [p["Name"] for p in pyramid["Presets"]]
        file_windows = [{"Name": e, "Center": c, "Width": w} for c, w, e in sample.extra.get("windows", ())]
        assert pyramid["Presets"][:len(file_windows)] == file_windows
        assert ("Lung" in names) is (sample.modality == "CT")


def test_frames_of_a_multi_frame_instance_count_from_0(orthanc, frames):
    ct = frames["ct"]
    for frame in range(3):
        pyramid = orthanc.get_json(f"/wsi/frames-pyramids/{ct.instance_id}/{frame}")
        assert pyramid["FrameNumber"] == frame and pyramid["Sizes"][0] == [600, 700]
        got = tile_of(orthanc, f"/wsi/frames-tiles/{ct.instance_id}/{frame}/0/0/0")
        assert np.abs(got - ct.tile(0, 0, 0, frame)).max() <= 1.0, frame


@pytest.mark.parametrize("name", ["mammogram", "monochrome1", "ct", "photo"])
def test_tiles_are_the_source_at_every_level(orthanc, frames, name):
    """Level 0 is the frame as its DICOM says to show it; coarser levels are 2 x 2 averages; edge tiles are full
    512 x 512 tiles with the background past the frame."""
    sample = frames[name]
    pyramid = orthanc.get_json(f"/wsi/frames-pyramids/{sample.instance_id}/0")
    for z, x, y in tiles_to_check(pyramid):
        got = tile_of(orthanc, f"/wsi/frames-tiles/{sample.instance_id}/0/{z}/{x}/{y}")
        expected = sample.tile(z, x, y)
        assert got.shape == expected.shape, (z, x, y)
        assert np.abs(got - expected).max() <= 1.0, (name, z, x, y, np.abs(got - expected).max())


def test_window_query_in_modality_units(orthanc, frames):
    """?window=C,W replaces the file's VOI (the mammogram's VOI LUT, the radiograph's window); MONOCHROME1 is still
    inverted; every window has its own tiles, all from one decoded frame."""
    for name, windows in (("mammogram", [(4000.0, 8000.0), (12000.0, 500.0)]),
                          ("monochrome1", [(2048.0, 4096.0), (3000.0, 200.5)]),
                          ("ct", [(-600.0, 1500.0), (400.0, 1800.0)])):
        sample = frames[name]
        shown = []
        for center, width in windows:
            for z, x, y in ((0, 1, 1), (1, 0, 0)):
                got = tile_of(orthanc, f"/wsi/frames-tiles/{sample.instance_id}/0/{z}/{x}/{y}"
                                       f"?window={center:g},{width:g}")
                assert np.abs(got - sample.tile(z, x, y, window=(center, width))).max() <= 1.0, (name, center, z)
                shown.append(got)
        assert not np.array_equal(shown[0], shown[2]), name
        default = tile_of(orthanc, f"/wsi/frames-tiles/{sample.instance_id}/0/1/0/0")
        # The monochrome1 radiograph's first window is its own default: same tile.
        assert np.array_equal(default, shown[1]) is (name == "monochrome1"), name


def test_jpeg_when_asked(orthanc, frames):
    photo = frames["photo"]
    status, headers, body = orthanc.get(f"/wsi/frames-tiles/{photo.instance_id}/0/1/0/0",
                                        {"Accept": "image/jpeg"})
    assert status == 200 and headers["content-type"] == "image/jpeg"
    got = np.asarray(Image.open(io.BytesIO(body))).astype(np.float64)
    assert np.abs(got - photo.tile(1, 0, 0)).mean() < 3.0
    status, headers, body = orthanc.get(f"/wsi/frames-tiles/{photo.instance_id}/0/1/0/0", {"Accept": "image/webp"})
    assert status == 200 and headers["content-type"] == "image/webp" and headers["vary"] == "Accept"
    _, _, png = orthanc.get(f"/wsi/frames-tiles/{photo.instance_id}/0/1/0/0")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(body))), np.asarray(Image.open(io.BytesIO(png))))


def test_errors(orthanc, frames):
    ct, photo, mammogram = frames["ct"], frames["photo"], frames["mammogram"]
    unknown = "01234567-89abcdef-01234567-89abcdef-01234567"
    cases = {
        f"/wsi/frames-pyramids/{ct.instance_id}/3": 404,  # past the instance's 3 frames (the C++ plugin: 500)
        f"/wsi/frames-pyramids/{mammogram.instance_id}/1": 404,
        f"/wsi/frames-tiles/{ct.instance_id}/3/0/0/0": 404,
        f"/wsi/frames-pyramids/{unknown}/0": 404,
        f"/wsi/frames-pyramids/{ct.series_id}/0": 404,  # a series is not an instance
        f"/wsi/frames-pyramids/{ct.instance_id}/x": 400,
        f"/wsi/frames-pyramids/{ct.instance_id}/-1": 400,
        "/wsi/frames-pyramids/not-an-id/0": 400,
        f"/wsi/frames-tiles/{ct.instance_id}/0/2/0/0": 404,  # 600 x 700: two levels
        f"/wsi/frames-tiles/{ct.instance_id}/0/0/2/0": 404,
        f"/wsi/frames-tiles/{ct.instance_id}/0/0/0/2": 404,
        f"/wsi/frames-tiles/{ct.instance_id}/0/0/0/0?window=abc": 400,
        f"/wsi/frames-tiles/{ct.instance_id}/0/0/0/0?window=40": 400,
        f"/wsi/frames-tiles/{ct.instance_id}/0/0/0/0?window=40,0": 400,
        f"/wsi/frames-tiles/{ct.instance_id}/0/0/0/0?window=nan,400": 400,
        f"/wsi/frames-tiles/{photo.instance_id}/0/0/0/0?window=40,400": 400,  # a colour frame has no window
        f"/wsi/series-frames/{unknown}": 404,
        f"/wsi/series-frames/{ct.instance_id}": 404,
    }
    for path, expected in cases.items():
        status, _, body = orthanc.get(path)
        assert status == expected, (path, status, body[:200])
        assert body and b"internal" not in body, path


def test_series_frames_in_iiif_order(orthanc, frames):
    ct, single = frames["ct"], frames["ct-single"]
    listed = orthanc.get_json(f"/wsi/series-frames/{ct.series_id}")
    assert listed == {"Frames": [{"Instance": ct.instance_id, "Frame": f} for f in range(3)]
                      + [{"Instance": single.instance_id, "Frame": 0}]}
    # The same order as our IIIF frames of the series: index i is the i-th entry.
    for index, entry in enumerate(listed["Frames"]):
        by_series = orthanc.get(f"/wsi/iiif/frames/{ct.series_id}/{index}/full/max/0/default.png")[2]
        by_instance = orthanc.get(f"/wsi/iiif/frames/{entry['Instance']}/{entry['Frame']}/full/max/0/default.png")[2]
        assert by_series == by_instance, index
    assert orthanc.get_json(f"/wsi/series-frames/{frames['photo'].series_id}") == {
        "Frames": [{"Instance": frames["photo"].instance_id, "Frame": 0}]}


def test_iiif_frames_pyramids_service_and_manifest(orthanc, frames):
    mammogram = frames["mammogram"]
    base = f"/wsi/iiif/frames-pyramids/{mammogram.instance_id}/0"
    info = orthanc.get_json(f"{base}/info.json")
    assert info["profile"] == "level2" and info["id"].endswith(base)
    assert (info["width"], info["height"]) == (2000, 2500)
    assert info["tiles"] == [{"type": "Tile", "width": 512, "height": 512, "scaleFactors": [1, 2, 4, 8]}]
    # A IIIF tile is the frames-tiles tile (PNG, lossless), cut to the frame.
    status, _, body = orthanc.get(f"{base}/1024,512,512,512/512,/0/default.png")
    assert status == 200
    iiif = np.asarray(Image.open(io.BytesIO(body))).astype(np.float64)
    assert np.array_equal(iiif, tile_of(orthanc, f"/wsi/frames-tiles/{mammogram.instance_id}/0/0/2/1"))
    status, _, body = orthanc.get(f"{base}/0,0,2000,2496/250,/0/default.png")  # from level 3, resampled by IIIF
    assert np.abs(np.asarray(Image.open(io.BytesIO(body))) - mammogram.shown(3)[:312]).mean() < 0.5
    manifest = orthanc.get_json(f"{base}/manifest.json")
    assert manifest["type"] == "Manifest" and manifest["id"].endswith(f"{base}/manifest.json")
    (canvas,) = manifest["items"]
    assert (canvas["width"], canvas["height"]) == (2000, 2500)
    service = canvas["items"][0]["items"][0]["body"]["service"][0]
    assert service["id"].endswith(base) and service["type"] == "ImageService3"
    assert orthanc.get(f"/wsi/iiif/frames-pyramids/{mammogram.instance_id}/1/info.json")[0] == 404
    # The C++ plugin 3.x's other frame form, next to our series form: told apart by the Orthanc resource.
    ct = frames["ct"]
    by_instance = orthanc.get_json(f"/wsi/iiif/frames/{ct.instance_id}/2/info.json")
    assert by_instance["id"].endswith(f"/wsi/iiif/frames/{ct.instance_id}/2")
    assert orthanc.get_json(f"/wsi/iiif/frames/{ct.series_id}/3/info.json")["width"] == 600


def test_next_tiles_are_fast(orthanc, frames):
    """The frame is decoded once: after the first tile (which decodes and builds the levels), other tiles of any
    level and window are cut from the kept levels. Generous bounds: the machine is shared."""
    photo = frames["photo"]
    started = time.monotonic()
    tile_of(orthanc, f"/wsi/frames-tiles/{photo.instance_id}/0/3/0/0")
    first = time.monotonic() - started
    started = time.monotonic()
    paths = [f"/wsi/frames-tiles/{photo.instance_id}/0/{z}/{x}/{y}" for z, x, y in
             ((0, 2, 2), (0, 3, 1), (1, 1, 1), (2, 1, 0), (0, 4, 3), (1, 2, 0))]
    for path in paths:
        tile_of(orthanc, path)
    each = (time.monotonic() - started) / len(paths)
    assert each < 0.25, (first, each)
