"""The official C++ WSI plugin on our fixture and our slides: the reference behaviour of docs/cpp-plugin.md.

These tests pin what the C++ plugin does, so that parity tests compare against a known reference and a
change of the Debian package shows up here first. Expected values are computed from the source geometry.
They hold for the plugin of either Debian: 1.1 (Debian 12) and 3.2 (Debian 13), read from the running
Orthanc's `/plugins/wsi`; where 3.x legitimately differs (more pyramid keys, Accept honoured, sparse holes
and RLE served, IIIF) each test says what each version does.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.orthanc_server import OrthancServer
from tests.support.source import psnr
from tests.support.writer import level_image, write_slide

pytestmark = pytest.mark.integration

TILE = 256
PYRAMID_KEYS = ["ID", "Resolutions", "Sizes", "TilesCount", "TilesSizes", "TotalHeight", "TotalWidth"]
JPEG_2000 = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"}
LOSSLESS = {"ours-explicit", "highdicom-none", "dicomizer-jpeg2000", "dicomizer-none"}
PNG_SLIDES = {"ours-explicit", "highdicom-none", "dicomizer-jpeg2000", "dicomizer-none"}


def content_type(headers: dict[str, str]) -> str | None:
    return {k.lower(): v for k, v in headers.items()}.get("content-type")


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def cpp_version(server: OrthancServer) -> tuple[int, int]:
    """The running C++ plugin's version, e.g. (1, 1) on Debian 12, (3, 2) on Debian 13."""
    major, minor = server.get_json("/plugins/wsi")["Version"].split(".")[:2]
    return int(major), int(minor)


def level0_tags(server: OrthancServer, series: str) -> dict:
    """The simplified tags of the series' widest instance (its finest level)."""
    tags = [server.get_json(f"/instances/{instance}/simplified-tags")
            for instance in server.get_json(f"/series/{series}")["Instances"]]
    return max(tags, key=lambda t: int(t.get("TotalPixelMatrixColumns", 0)))


def expected_pyramid(server: OrthancServer, series: str, width: int, height: int,
                     factors: tuple[int, ...]) -> dict:
    sizes = [[ceil_div(width, f), ceil_div(height, f)] for f in factors]
    # The C++ plugin divides widths in single precision (docs/cpp-plugin.md).
    pyramid = {"ID": series, "Resolutions": [float(np.float32(width / w)) for w, _ in sizes], "Sizes": sizes,
               "TilesCount": [[ceil_div(w, TILE), ceil_div(h, TILE)] for w, h in sizes],
               "TilesSizes": [[TILE, TILE] for _ in sizes], "TotalHeight": height, "TotalWidth": width}
    if cpp_version(server) >= (3, 0):
        # 3.x adds the background colour (white unless the slide says otherwise) and, when the slide has them,
        # ImagedVolumeWidth/Height (mm, single precision); Orthanc writes the keys in sorted order.
        pyramid["BackgroundColor"] = "#ffffff"
        tags = level0_tags(server, series)
        for key in ("ImagedVolumeWidth", "ImagedVolumeHeight"):
            if key in tags:
                pyramid[key] = float(np.float32(float(tags[key])))
        pyramid = dict(sorted(pyramid.items()))
    return pyramid


def false_ybr_label(server: OrthancServer, series: str) -> bool:
    """JPEG 2000 tiles labelled YBR_FULL_422 although they hold RGB: OrthancWSIDicomizer 1.1's (Debian 12) lossless
    JPEG 2000 slides (3.2's label them RGB). The C++ plugin 1.1 ignores the label; 3.x trusts it."""
    instance = server.get_json(f"/series/{series}")["Instances"][0]
    syntax = server.get(f"/instances/{instance}/metadata/TransferSyntax")[2].decode()
    return syntax in JPEG_2000 and level0_tags(server, series).get("PhotometricInterpretation") == "YBR_FULL_422"


def expected_level(name: str, source: np.ndarray, factor: int) -> np.ndarray:
    """The level a producer stores: OrthancWSIDicomizer (no --smooth) keeps the last pixel of each
    factor x factor block; our writer and the highdicom producer average the block (Pillow BOX)."""
    if name.startswith("dicomizer-"):
        return source[factor - 1::factor, factor - 1::factor]
    return level_image(source, factor)


def get_tile(server: OrthancServer, series: str, z: int, x: int, y: int,
             headers: dict[str, str] | None = None) -> tuple[str | None, np.ndarray, bytes]:
    status, answer_headers, body = server.get(f"/wsi/tiles/{series}/{z}/{x}/{y}", headers)
    assert status == 200, (series, z, x, y, status, body[:200])
    return content_type(answer_headers), np.asarray(Image.open(io.BytesIO(body)).convert("RGB")), body


def test_the_fixture_runs_the_cpp_plugin(orthanc_cpp):
    plugins = orthanc_cpp.get_json("/plugins")
    assert "wsi" in plugins and "python" not in plugins
    assert orthanc_cpp.get_json("/plugins/wsi")["ExtendsOrthancExplorer"] is True


@pytest.mark.parametrize("name", ["ours-jpeg", "ours-explicit", "ours-sparse", "highdicom-jpeg", "highdicom-none",
                                  "dicomizer-jpeg", "dicomizer-jpeg2000", "dicomizer-none", "dicomizer-tiff",
                                  "wsidicomizer"])
def test_pyramid_json(orthanc_cpp, slides_cpp, slide_source, name):
    if name not in slides_cpp:
        pytest.skip(f"{name} was not produced here")
    series = slides_cpp[name]
    status, headers, body = orthanc_cpp.get(f"/wsi/pyramids/{series}")
    assert status == 200 and content_type(headers) == "application/json"
    assert body.startswith(b'{\n\t"') and body.endswith(b"\n}\n")  # Orthanc's styled writer
    pyramid = json.loads(body, object_pairs_hook=lambda pairs: dict(pairs))
    height, width = slide_source.shape[:2]
    expected = expected_pyramid(orthanc_cpp, series, width, height, (1, 2, 4))
    assert list(pyramid) == list(expected)
    assert set(PYRAMID_KEYS) <= set(pyramid)  # 1.1's keys are in every version's
    assert pyramid == expected
    assert all(type(value) is float for value in pyramid["Resolutions"])


def test_levels_are_finest_first_whatever_the_upload_order(orthanc_cpp, slide_source, tmp_path: Path):
    paths = write_slide(tmp_path, slide_source, downsamples=(1, 2, 4))
    series = orthanc_cpp.upload_series(list(reversed(paths)))
    height, width = slide_source.shape[:2]
    expected = expected_pyramid(orthanc_cpp, series, width, height, (1, 2, 4))
    assert orthanc_cpp.get_json(f"/wsi/pyramids/{series}") == expected


def test_non_power_of_two_levels_keep_their_factors(orthanc_cpp, slides_cpp, slide_source):
    series = slides_cpp["ours-npot"]
    height, width = slide_source.shape[:2]
    pyramid = orthanc_cpp.get_json(f"/wsi/pyramids/{series}")
    assert pyramid == expected_pyramid(orthanc_cpp, series, width, height, (1, 3, 7))
    assert pyramid["Resolutions"][1] == 2.9972751140594482  # float32(1100 / 367), not the double


@pytest.mark.parametrize("name", ["ours-jpeg", "ours-explicit", "highdicom-jpeg", "highdicom-none",
                                  "dicomizer-jpeg", "dicomizer-jpeg2000", "dicomizer-none", "dicomizer-tiff"])
def test_tiles_are_the_source_at_full_tile_size(orthanc_cpp, slides_cpp, slide_source, name):
    if name not in slides_cpp:
        pytest.skip(f"{name} was not produced here")
    series = slides_cpp[name]
    pyramid = orthanc_cpp.get_json(f"/wsi/pyramids/{series}")
    wrong_colours = cpp_version(orthanc_cpp) >= (3, 0) and false_ybr_label(orthanc_cpp, series)
    for z, (columns, rows) in enumerate(pyramid["TilesCount"]):
        level = expected_level(name, slide_source, 2**z)
        for x, y in {(0, 0), (columns - 1, rows - 1)}:
            media_type, pixels, _ = get_tile(orthanc_cpp, series, z, x, y)
            assert media_type == ("image/png" if name in PNG_SLIDES else "image/jpeg")
            assert pixels.shape == (TILE, TILE, 3)  # edge tiles are not cropped
            expected = level[y * TILE:(y + 1) * TILE, x * TILE:(x + 1) * TILE]
            got = pixels[: expected.shape[0], : expected.shape[1]]
            if wrong_colours:  # 3.x converts RGB it believes YBR (test_other_platform_tiles.py measures it)
                assert np.abs(got.astype(int) - expected).max() > 100, (z, x, y)
            elif name in LOSSLESS:
                assert np.array_equal(got, expected), (z, x, y)
            else:
                assert psnr(got, expected) > 25, (z, x, y, psnr(got, expected))  # misplaced: < 20


def test_jpeg_tiles_are_passed_through(orthanc_cpp, slides_cpp):
    series = slides_cpp["ours-jpeg"]
    for instance in orthanc_cpp.get_json(f"/series/{series}")["Instances"]:
        tags = orthanc_cpp.get_json(f"/instances/{instance}/simplified-tags")
        if tags["TotalPixelMatrixColumns"] == "1100":
            raw = orthanc_cpp.get(f"/instances/{instance}/frames/0/raw")[2]
            assert get_tile(orthanc_cpp, series, 0, 0, 0)[2] == raw
            return
    pytest.fail("no level-0 instance")


def test_accept(orthanc_cpp, slides_cpp, slide_source):
    """1.1 ignores Accept; 3.x honours image/png and image/jpeg (re-encoding the tile) and refuses others."""
    jpeg, png = slides_cpp["ours-jpeg"], slides_cpp["ours-explicit"]
    if cpp_version(orthanc_cpp) < (3, 0):
        assert get_tile(orthanc_cpp, jpeg, 0, 0, 0, {"Accept": "image/png"})[0] == "image/jpeg"
        assert get_tile(orthanc_cpp, png, 0, 0, 0, {"Accept": "image/jpeg"})[0] == "image/png"
        assert get_tile(orthanc_cpp, jpeg, 0, 0, 0, {"Accept": "image/webp"})[0] == "image/jpeg"
        return
    media_type, pixels, _ = get_tile(orthanc_cpp, jpeg, 0, 0, 0, {"Accept": "image/png"})
    assert media_type == "image/png" and psnr(pixels, slide_source[:TILE, :TILE]) > 25
    media_type, pixels, _ = get_tile(orthanc_cpp, png, 0, 0, 0, {"Accept": "image/jpeg"})
    assert media_type == "image/jpeg" and psnr(pixels, slide_source[:TILE, :TILE]) > 25
    assert orthanc_cpp.get(f"/wsi/tiles/{jpeg}/0/0/0", {"Accept": "image/webp"})[0] == 406


# A status per plugin major version where they differ.
@pytest.mark.parametrize(("path", "status"), [
    ("/wsi/tiles/{s}/0/5/0", 400),  # column past the last tile
    ("/wsi/tiles/{s}/0/0/3", 400),
    ("/wsi/tiles/{s}/3/0/0", 400),  # level past the last one
    ("/wsi/tiles/{s}/-1/0/0", 400),
    ("/wsi/tiles/{s}/0/0/0x", 404),  # the route regex does not match
    ("/wsi/tiles/00000000-00000000-00000000-00000000-00000000/0/0/0", 404),
    ("/wsi/pyramids/00000000-00000000-00000000-00000000-00000000", 404),
    ("/wsi/iiif/tiles/{s}/info.json", {1: 404, 3: 200}),  # no IIIF in 1.1
])
def test_error_statuses(orthanc_cpp, slides_cpp, path, status):
    if isinstance(status, dict):
        status = status[cpp_version(orthanc_cpp)[0]]
    assert orthanc_cpp.get(path.replace("{s}", slides_cpp["ours-jpeg"]))[0] == status


def test_a_sparse_hole(orthanc_cpp, slides_cpp):
    """1.1: 404; 3.x: a tile of the background colour (white here), as PNG."""
    series = slides_cpp["ours-sparse"]
    if cpp_version(orthanc_cpp) < (3, 0):
        assert orthanc_cpp.get(f"/wsi/tiles/{series}/0/1/1")[0] == 404
    else:
        media_type, pixels, _ = get_tile(orthanc_cpp, series, 0, 1, 1)
        assert media_type == "image/png" and pixels.shape == (TILE, TILE, 3) and (pixels == 255).all()
    assert orthanc_cpp.get(f"/wsi/tiles/{series}/0/2/1")[0] == 200


def test_unsupported_layouts(orthanc_cpp, slide_source, tmp_path: Path):
    planes = write_slide(tmp_path / "planes", slide_source, downsamples=(1,), focal_planes=[0.0, 2.0],
                         optical_paths=["1", "2"])
    assert orthanc_cpp.get(f"/wsi/pyramids/{orthanc_cpp.upload_series(planes)}")[0] == 404
    sparse = write_slide(tmp_path / "sparse", slide_source, downsamples=(1,), focal_planes=[0.0, 2.0],
                         organization="TILED_SPARSE")
    assert orthanc_cpp.get(f"/wsi/pyramids/{orthanc_cpp.upload_series(sparse)}")[0] == 400
    # A concatenation: only the level that fitted in one instance remains.
    parts = write_slide(tmp_path / "concat", slide_source, frames_per_instance=5)
    pyramid = orthanc_cpp.get_json(f"/wsi/pyramids/{orthanc_cpp.upload_series(parts)}")
    assert pyramid["Sizes"] == [[275, 175]]


def test_rle_tiles(orthanc_cpp, slide_source, tmp_path: Path):
    """RLE: 1.1 has the pyramid but answers 500 for tiles (unsupported transfer syntax); 3.x decodes them."""
    paths = write_slide(tmp_path, slide_source, downsamples=(1,), transfer_syntax="1.2.840.10008.1.2.5")
    series = orthanc_cpp.upload_series(paths)
    assert orthanc_cpp.get(f"/wsi/pyramids/{series}")[0] == 200
    if cpp_version(orthanc_cpp) < (3, 0):
        assert orthanc_cpp.get(f"/wsi/tiles/{series}/0/0/0")[0] == 500
    else:
        media_type, pixels, _ = get_tile(orthanc_cpp, series, 0, 0, 0)
        assert media_type == "image/png" and np.array_equal(pixels, slide_source[:TILE, :TILE])


def test_associated_images_become_a_level(orthanc_cpp, slide_source, tmp_path: Path):
    paths = write_slide(tmp_path, slide_source, downsamples=(1,), associated=("LABEL", "OVERVIEW", "THUMBNAIL"))
    pyramid = orthanc_cpp.get_json(f"/wsi/pyramids/{orthanc_cpp.upload_series(paths)}")
    assert pyramid["Sizes"] == [[1100, 700], [200, 120]] and pyramid["TilesSizes"][1] == [200, 120]


def test_explorer_button(orthanc_cpp):
    """A button on WSI series pages (SOP class 1.2.840.10008.5.1.4.1.1.77.1.6) opening the viewer: id `wsi-button`
    in 1.1, `wsi-series-button` in 3.x (which adds IIIF buttons)."""
    status, _, body = orthanc_cpp.get("/plugins/explorer.js")
    button = b"wsi-button" if cpp_version(orthanc_cpp) < (3, 0) else b"wsi-series-button"
    assert status == 200 and b"'" + button + b"'" in body and b"1.2.840.10008.5.1.4.1.1.77.1.6" in body
    assert b"wsi/app/viewer.html?series=" in body
    assert orthanc_cpp.get("/wsi/app/viewer.html")[0] == 200
