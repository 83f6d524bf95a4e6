"""GET /wsi/export and python -m wsi.export on a real Orthanc, read back by OpenSlide 4, tifffile and tiffslide.

Slides from three producers (ours, highdicom, OrthancWSIDicomizer, wsidicomizer): the series made by the two
DICOM-izers -> export -> OpenSlide is issue 11's round trip from DICOM. Stored JPEG tiles are copied as
stored, so OpenSlide's pixels equal our /wsi/tiles pixels exactly; other tiles are re-encoded (PSNR bound).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import imagecodecs
import numpy as np
import openslide
import pydicom
import pydicom.encaps
import pytest
import tifffile
import tiffslide
from PIL import ImageCms

from tests.support.export_checks import (
    check_associated,
    check_geometry,
    check_pixels,
    decoded,
    export_file,
    tile_counts,
)
from tests.support.orthanc_server import OrthancServer
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "plugin" / "wsi_plugin.py"
LAUNCHER = ROOT / "scripts" / "wsi-export"
# Standard slides whose frames are JPEG: every tile copied as stored (holes of a sparse level excepted).
JPEG_SLIDES = {"ours-jpeg": 0, "ours-npot": 0, "ours-sparse": 1, "highdicom-jpeg": 0, "dicomizer-jpeg": 0,
               "dicomizer-tiff": 0, "wsidicomizer": 0}
# An ICC profile that is not plain sRGB (the plugin passes sRGB on as no profile at all).
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
OTHER_ICC = _SRGB.replace("sRGB".encode("utf-16-be"), "xRGB".encode("utf-16-be")).replace(b"sRGB", b"xRGB")
OTHER_SLIDES = ("ours-explicit", "highdicom-none", "dicomizer-jpeg2000", "dicomizer-none")


def _slide(slides: dict[str, str], name: str) -> str:
    if name not in slides:
        pytest.skip(f"{name} is not made on this machine (producer missing)")
    return slides[name]


@pytest.mark.parametrize("name", [*JPEG_SLIDES, *OTHER_SLIDES])
def test_openslide_reads_the_export(orthanc: OrthancServer, slides: dict[str, str], name: str,
                                    tmp_path: Path) -> None:
    series_id = _slide(slides, name)
    pyramid = orthanc.get_json(f"/wsi/pyramids/{series_id}")
    path, headers = export_file(orthanc, series_id, tmp_path)
    counts = tile_counts(headers)
    if name in JPEG_SLIDES:
        assert counts["encoded"] == JPEG_SLIDES[name], counts  # stored JPEG is never re-encoded
    else:
        assert counts["copied"] == 0, counts
    assert counts["copied"] + counts["encoded"] == sum(x * y for x, y in pyramid["TilesCount"])
    assert openslide.OpenSlide.detect_format(str(path)) == "aperio"
    with openslide.OpenSlide(str(path)) as slide:
        check_geometry(slide, pyramid)
        report = check_pixels(orthanc, series_id, slide, pyramid, exact=counts["encoded"] == 0)
        check_associated(orthanc, series_id, slide, pyramid)
    assert report.tiles_compared >= 15
    if counts["encoded"] == 0:
        assert report.exact == report.tiles_compared
    print(f"{name}: {counts}, {report.tiles_compared} tiles on levels {report.levels_compared}, "
          f"worst re-encoded PSNR {report.worst_psnr:.1f} dB")


@pytest.fixture(scope="module")
def rich_slide(orthanc: OrthancServer, slide_source: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Label, overview and thumbnail, two optical paths, three focal planes, objective power 20, an ICC profile."""
    folder = tmp_path_factory.mktemp("rich")
    paths = write_slide(folder, slide_source, associated=("LABEL", "OVERVIEW", "THUMBNAIL"),
                        optical_paths=("1", "2"), focal_planes=(0.0, 1.5, 3.0), icc=OTHER_ICC)
    for path in paths:
        dataset = pydicom.dcmread(path)
        for item in dataset.OpticalPathSequence:
            item.ObjectiveLensPower = 20
        dataset.save_as(path)
    return orthanc.upload_series(paths)


def test_associated_images_objective_power_and_planes(orthanc: OrthancServer, rich_slide: str,
                                                      tmp_path: Path) -> None:
    pyramid = orthanc.get_json(f"/wsi/pyramids/{rich_slide}")
    assert pyramid["ObjectivePower"] == 20 and len(pyramid["FocalPlanes"]) == 3
    path, _ = export_file(orthanc, rich_slide, tmp_path)
    with openslide.OpenSlide(str(path)) as slide:
        check_geometry(slide, pyramid)
        assert slide.properties[openslide.PROPERTY_NAME_OBJECTIVE_POWER] == "20"
        assert set(slide.associated_images) == {"label", "macro", "thumbnail"}
        assert slide.color_profile is not None and slide.color_profile.tobytes() == OTHER_ICC
        check_associated(orthanc, rich_slide, slide, pyramid)
        check_pixels(orthanc, rich_slide, slide, pyramid, exact=True)
        default = np.asarray(slide.read_region((256, 256), 0, (256, 256)).convert("RGB"))
    # Another optical path and focal plane: OpenSlide shows that plane, tile for tile as /wsi/tiles does.
    query = "?optical-path=2&focal-plane=0"
    (tmp_path / "other").mkdir()
    other, _ = export_file(orthanc, rich_slide, tmp_path / "other", query)
    with openslide.OpenSlide(str(other)) as slide:
        report = check_pixels(orthanc, rich_slide, slide, pyramid, exact=True, query=query)
        assert report.exact == report.tiles_compared
        assert not np.array_equal(default, np.asarray(slide.read_region((256, 256), 0, (256, 256)).convert("RGB")))


def _recode(paths: list[Path], coding_of) -> None:
    """Every VOLUME frame decoded and encoded again as coding_of(frame index) says: "RGB" (Adobe, no colour
    transform; the instance labelled RGB), or a YCbCr subsampling ("420", "422")."""
    for path in paths:
        dataset = pydicom.dcmread(path)
        if "VOLUME" not in dataset.ImageType:
            continue
        frames = pydicom.encaps.generate_frames(dataset.PixelData, number_of_frames=int(dataset.NumberOfFrames))
        recoded = []
        for index, frame in enumerate(frames):
            coding = coding_of(index)
            pixels = imagecodecs.jpeg8_decode(frame)
            recoded.append(bytes(imagecodecs.jpeg8_encode(pixels, level=90, outcolorspace="RGB") if coding == "RGB"
                                 else imagecodecs.jpeg8_encode(pixels, level=90, subsampling=coding)))
        if coding_of(0) == "RGB":
            dataset.PhotometricInterpretation = "RGB"
        dataset.PixelData = pydicom.encaps.encapsulate(recoded)
        dataset.save_as(path)


@pytest.mark.parametrize("variant", ["rgb", "mixed"])
def test_each_level_keeps_one_coding(orthanc: OrthancServer, slide_source: np.ndarray, variant: str,
                                     tmp_path: Path) -> None:
    """RGB-coded JPEG frames go to an RGB level as stored; in a level whose frames are coded two ways, the
    frames coded as its first one are copied and the others re-encoded that way (one Photometric per level)."""
    paths = write_slide(tmp_path / variant, slide_source)
    _recode(paths, (lambda index: "RGB") if variant == "rgb" else (lambda index: "420" if index % 2 == 0 else "422"))
    series_id = orthanc.upload_series(paths)
    pyramid = orthanc.get_json(f"/wsi/pyramids/{series_id}")
    path, headers = export_file(orthanc, series_id, tmp_path)
    counts = tile_counts(headers)
    total = sum(x * y for x, y in pyramid["TilesCount"])
    odd = sum((x * y) // 2 for x, y in pyramid["TilesCount"])
    assert counts == ({"copied": total, "encoded": 0} if variant == "rgb" else {"copied": total - odd, "encoded": odd})
    with tifffile.TiffFile(path) as tiff:
        photometric = {page.photometric for page in tiff.series[0].levels[0].pages}
        assert photometric == {tifffile.PHOTOMETRIC.RGB if variant == "rgb" else tifffile.PHOTOMETRIC.YCBCR}
        if variant == "mixed":
            assert tiff.series[0].levels[0].pages[0].tags["YCbCrSubSampling"].value == (2, 2)
    with openslide.OpenSlide(str(path)) as slide:
        report = check_pixels(orthanc, series_id, slide, pyramid, exact=variant == "rgb")
    assert report.exact >= total - odd


def test_tiles_a_tiff_cannot_hold_are_retiled(orthanc: OrthancServer, slide_source: np.ndarray,
                                              tmp_path: Path) -> None:
    """Stored tiles whose sides are not multiples of 16 (200 x 200, 100 x 60) go to 256 x 256 TIFF tiles pasted
    from them; a level of 256 x 256 tiles in the same series is still copied as stored."""
    paths = write_slide(tmp_path / "odd", slide_source, tile_size=[(200, 200), (256, 256), (100, 60)])
    series_id = orthanc.upload_series(paths)
    pyramid = orthanc.get_json(f"/wsi/pyramids/{series_id}")
    path, headers = export_file(orthanc, series_id, tmp_path)
    assert tile_counts(headers) == {"copied": 3 * 2, "encoded": 5 * 3 + 2 * 1}
    with tifffile.TiffFile(path) as tiff:
        assert [(level.pages[0].tilewidth, level.pages[0].tilelength) for level in tiff.series[0].levels] == \
            [(256, 256)] * 3
    with openslide.OpenSlide(str(path)) as slide:
        check_geometry(slide, pyramid)
        report = check_pixels(orthanc, series_id, slide, pyramid, exact=False)
    assert report.tiles_compared == 6 * 4 + 3 * 2 + 3 * 3 and report.exact < report.tiles_compared


def test_tifffile_and_tiffslide_read_the_export(orthanc: OrthancServer, rich_slide: str, tmp_path: Path) -> None:
    pyramid = orthanc.get_json(f"/wsi/pyramids/{rich_slide}")
    path, _ = export_file(orthanc, rich_slide, tmp_path)
    with tifffile.TiffFile(path) as tiff:
        assert tiff.is_bigtiff and tiff.is_svs
        names = [series.name for series in tiff.series]
        assert names == ["Baseline", "Thumbnail", "Label", "Macro"]
        baseline = tiff.series[0]
        assert [level.shape[-3:-1] for level in baseline.levels] == [(h, w) for w, h in pyramid["Sizes"]]
        page = baseline.levels[0].pages[0]
        assert page.is_tiled and page.compression == tifffile.COMPRESSION.JPEG
        assert page.tags["ResolutionUnit"].value == tifffile.RESUNIT.CENTIMETER
        x_res = page.tags["XResolution"].value
        assert abs(x_res[0] / x_res[1] - 10 / pyramid["PixelSpacings"][0][0]) < 1e-3
        level0 = baseline.levels[0].asarray()
        assert page.tags["InterColorProfile"].value == OTHER_ICC  # the slide's profile
    with tiffslide.TiffSlide(path) as slide:
        assert slide.level_count == len(pyramid["Sizes"])
        assert [list(d) for d in slide.level_dimensions] == pyramid["Sizes"]
        assert float(slide.properties[tiffslide.PROPERTY_NAME_MPP_X]) == pytest.approx(
            pyramid["PixelSpacings"][0][0] * 1000)
        assert float(slide.properties[tiffslide.PROPERTY_NAME_OBJECTIVE_POWER]) == 20
        assert {"label", "macro", "thumbnail"} <= set(slide.associated_images)
        region = np.asarray(slide.read_region((256, 0), 0, (256, 256)).convert("RGB"))
    _, _, tile = orthanc.get(f"/wsi/tiles/{rich_slide}/0/1/0")
    assert np.array_equal(region, decoded(tile)) and np.array_equal(level0[:256, 256:512], decoded(tile))


@pytest.mark.parametrize(("query", "status", "words"), [
    ("?quality=0", 400, "quality"), ("?quality=101", 400, "quality"), ("?quality=high", 400, "quality"),
    ("?optical-path=9", 400, "optical path"), ("?focal-plane=7", 400, "focal-plane"),
    ("?focal-plane=-1", 400, "focal-plane"), ("?format=png", 400, "unknown parameter"),
])
def test_bad_options_are_400(orthanc: OrthancServer, rich_slide: str, query: str, status: int, words: str) -> None:
    got, headers, body = orthanc.get(f"/wsi/export/{rich_slide}{query}")
    assert (got, headers["content-type"].split(";")[0]) == (status, "text/plain")
    assert words in body.decode()


def test_unknown_or_other_series_are_404_and_malformed_ids_400(orthanc: OrthancServer, rich_slide: str,
                                                              tmp_path: Path) -> None:
    assert orthanc.get("/wsi/export/00000000-00000000-00000000-00000000-00000000")[0] == 404
    study = orthanc.get_json(f"/series/{rich_slide}")["ParentStudy"]
    assert orthanc.get(f"/wsi/export/{study}")[0] == 404  # a study, not a series
    status, _, body = orthanc.get("/wsi/export/not-an-id")
    assert status == 400 and b"series id" in body
    assert orthanc.request("POST", f"/wsi/export/{rich_slide}", b"")[0] == 405
    # A series that is not whole-slide: a plain CT-like image.
    dataset = pydicom.examples.ct
    path = tmp_path / "ct.dcm"
    dataset.save_as(path)
    series = orthanc.upload_series([path])
    status, _, body = orthanc.get(f"/wsi/export/{series}")
    assert status == 404 and b"not a whole-slide image" in body


def _open_export_files(server: OrthancServer, folder: Path) -> list[str]:
    """Files the server's process holds open in `folder` (named or not: a spooled export has no name)."""
    fds = Path(f"/proc/{server.pid}/fd")
    found = []
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if str(folder) in target:  # seen from the host, a chrooted process's paths may carry the root's prefix
            found.append(target)
    return found


def test_size_limit_without_streamed_answers_and_temporary_files_removed(
        slide_source: np.ndarray, tmp_path: Path) -> None:
    """On orthanc-python 4.0 an export is one buffer: over ExportMaxBufferedMB it is 501 naming the option.
    Whatever the outcome, the spooled file is closed (and, having no name, gone)."""
    spool = tmp_path / "storage" / "spool"  # in the server's folder: mounted in the other platform's root too
    spool.mkdir(parents=True)
    big = np.tile(slide_source, (3, 2, 1))  # 2200 x 2100, lossless: a 2+ MB export
    paths = write_slide(tmp_path / "big", big, transfer_syntax="1.2.840.10008.1.2.1")
    config = {"WholeSlideImaging": {"ExportMaxBufferedMB": 1, "ExportTempFolder": str(spool)}}
    with OrthancServer(SCRIPT, storage_dir=tmp_path / "storage", extra_config=config) as server:
        series = server.upload_series(paths)
        small = server.upload_series(write_slide(tmp_path / "small", slide_source[:300, :400]))
        streams = server.get_json("/plugins/python")["Version"] >= "5"
        status, _, body = server.get(f"/wsi/export/{series}")
        if streams:  # orthanc-python 5.0: streamed from disk, no limit
            assert status == 200
        else:
            assert status == 501 and b"ExportMaxBufferedMB" in body and b"python -m wsi.export" in body
        assert server.get(f"/wsi/export/{small}")[0] == 200
        assert server.get(f"/wsi/export/{small}?quality=0")[0] == 400
        # A streamed answer's file is closed right after its last chunk, which the client may read first.
        deadline = time.monotonic() + 5
        while _open_export_files(server, spool) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _open_export_files(server, spool) == []
        assert _open_export_files(server, tmp_path / "storage" / "db")  # control: its open index file is seen
        assert list(spool.iterdir()) == []
        assert server.get(f"/wsi/pyramids/{series}")[0] == 200  # the server is fine


# ---- the command ----------------------------------------------------------------------------------------

def _command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(LAUNCHER), *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": ""})


def test_command_writes_the_same_file_as_the_route(orthanc: OrthancServer, slides: dict[str, str],
                                                   tmp_path: Path) -> None:
    series_id = _slide(slides, "wsidicomizer")
    route_file, _ = export_file(orthanc, series_id, tmp_path)
    out = tmp_path / "out.tif"
    done = _command(series_id, str(out), "--orthanc", orthanc.url)
    assert done.returncode == 0, done.stderr
    assert "copied as stored" in done.stdout
    assert out.read_bytes() == route_file.read_bytes()  # one writer, the same tiles: the same bytes
    via = tmp_path / "via.tif"
    done = _command(series_id, str(via), "--orthanc", orthanc.url, "--via-plugin")
    assert done.returncode == 0, done.stderr
    assert via.read_bytes() == route_file.read_bytes()


def test_command_errors_leave_no_file(orthanc: OrthancServer, rich_slide: str, tmp_path: Path) -> None:
    out = tmp_path / "out.tif"
    for args, words in (([rich_slide, "--quality", "0"], "quality"),
                        (["00000000-00000000-00000000-00000000-00000000"], "no series"),
                        (["bad-id"], "series id"),
                        ([rich_slide, "--optical-path", "9"], "optical path")):
        done = _command(args[0], str(out), "--orthanc", orthanc.url, *args[1:])
        assert done.returncode == 1 and words in done.stderr, (args, done.stderr)
    done = _command(rich_slide, str(out), "--orthanc", "http://127.0.0.1:9")  # nothing listens there
    assert done.returncode == 1 and "cannot reach" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_command_against_an_orthanc_without_our_plugin_with_credentials(
        slide_source: np.ndarray, tmp_path: Path) -> None:
    """Raw frames through Orthanc's own REST API: any Orthanc will do (here: no plugin, authentication on)."""
    config = {"AuthenticationEnabled": True, "RegisteredUsers": {"alice": "s3cret"}}
    paths = write_slide(tmp_path / "slide", slide_source, associated=("LABEL",))
    with OrthancServer(None, storage_dir=tmp_path / "storage", extra_config=config) as server:
        auth = {"Authorization": "Basic YWxpY2U6czNjcmV0"}
        ids = [server.request("POST", "/instances", p.read_bytes(), auth) for p in paths]
        assert all(status == 200 for status, _, _ in ids)
        _, _, body = server.request("GET", "/series", headers=auth)
        series_id = body.decode().split('"')[1]
        out = tmp_path / "out.svs"
        done = _command(series_id, str(out), "--orthanc", server.url, "--username", "alice")
        assert done.returncode == 1 and "credentials refused" in done.stderr
        done = _command(series_id, str(out), "--orthanc", server.url, "--username", "alice", "--password", "s3cret")
        assert done.returncode == 0, done.stderr
    with openslide.OpenSlide(str(out)) as slide:
        assert slide.level_dimensions == ((1100, 700), (550, 350), (275, 175))
        assert set(slide.associated_images) == {"label", "thumbnail"}
