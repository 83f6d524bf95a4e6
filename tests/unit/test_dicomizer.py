"""The DICOM-izer's writer on files made here: dciodvfy, OpenSlide 4 and wsidicom read what it writes, with the
source's pixels (JPEG tiles copied byte for byte, lossless codecs exact, generated levels 2x2 averages)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openslide
import pydicom
import pytest
import tifffile
from PIL import Image
from wsi.dicomizer.jpeg_streams import with_tables
from wsi.dicomizer.options import parse_options
from wsi.dicomizer.pipeline import _halve_pairs
from wsi.dicomizer.source import open_slide
from wsi.dicomizer.writer import dicomize
from wsi.errors import BadRequest

from tests.support.dicom_checks import dciodvfy_errors, wsidicom_summary
from tests.support.slide_files import APP_MAG, MPP, aperio_tiff, pattern


def convert(source: Path, out: Path, **options) -> list[Path]:
    out.mkdir(exist_ok=True)
    written: list[Path] = []

    def sink(data: bytes, label: str) -> None:
        path = out / f"{len(written):03d}.dcm"
        path.write_bytes(data)
        written.append(path)

    slide = open_slide(str(source))
    try:
        dicomize(slide, parse_options({k.replace("_", "-"): v for k, v in options.items()}), sink)
    finally:
        slide.close()
    return written


def by_flavor(paths: list[Path]) -> dict[str, list[pydicom.Dataset]]:
    found: dict[str, list[pydicom.Dataset]] = {}
    for path in paths:
        ds = pydicom.dcmread(path)
        found.setdefault(ds.ImageType[2], []).append(ds)
    return found


@pytest.fixture(scope="module")
def aperio(tmp_path_factory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("src") / "slide.svs"
    return path, aperio_tiff(path)


@pytest.fixture(scope="module")
def aperio_dicom(aperio, tmp_path_factory) -> list[Path]:
    return convert(aperio[0], tmp_path_factory.mktemp("dcm"))


def test_every_file_passes_dciodvfy(aperio_dicom):
    assert len(aperio_dicom) == 6  # 3 levels, label, overview, thumbnail
    for path in aperio_dicom:
        assert dciodvfy_errors(path) == [], path


def test_jpeg_tiles_are_copied_byte_for_byte(aperio, aperio_dicom):
    volumes = sorted(by_flavor(aperio_dicom)["VOLUME"], key=lambda ds: -ds.TotalPixelMatrixColumns)
    with tifffile.TiffFile(aperio[0]) as tif:
        for ds, level in zip(volumes, tif.series[0].levels, strict=True):
            page = level.keyframe
            assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
            frames = list(pydicom.encaps.generate_frames(ds.PixelData, number_of_frames=ds.NumberOfFrames))
            assert len(frames) == len(page.dataoffsets)
            handle = tif.filehandle
            for frame, offset, count in zip(frames, page.dataoffsets, page.databytecounts, strict=True):
                handle.seek(offset)
                assert frame.rstrip(b"\0") == with_tables(handle.read(count), page.jpegtables).rstrip(b"\0")


def test_the_attributes_readers_need(aperio_dicom):
    flavors = by_flavor(aperio_dicom)
    assert sorted(flavors) == ["LABEL", "OVERVIEW", "THUMBNAIL", "VOLUME"]
    base = max(flavors["VOLUME"], key=lambda ds: ds.TotalPixelMatrixColumns)
    assert list(base.ImageType) == ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    assert base.DimensionOrganizationType == "TILED_FULL"
    assert base.FrameOfReferenceUID and base.TotalPixelMatrixRows == 760
    spacing = base.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing
    assert [float(v) for v in spacing] == [MPP / 1000] * 2
    path = base.OpticalPathSequence[0]
    assert len(path.ICCProfile) > 100 and float(path.ObjectiveLensPower) == APP_MAG
    assert len({ds.SeriesInstanceUID for group in flavors.values() for ds in group}) == 1
    assert base.PatientID.startswith("SLIDE-") and str(base.PatientName) == "Anonymous^Slide"


def test_openslide_reads_levels_mpp_power_associated_and_pixels(aperio, aperio_dicom):
    path = aperio[0]
    slide = openslide.OpenSlide(str(aperio_dicom[0]))
    assert slide.level_dimensions == ((1000, 760), (500, 380), (250, 190))
    assert float(slide.properties["openslide.mpp-x"]) == MPP
    assert float(slide.properties["openslide.objective-power"]) == APP_MAG
    assert sorted(slide.associated_images) == ["label", "macro", "thumbnail"]
    assert slide.associated_images["label"].size == (300, 200)
    source = [level for level in tifffile.TiffFile(path).series[0].levels]
    for index, level in enumerate(source):
        expected = level.asarray()
        width, height = slide.level_dimensions[index]
        got = np.asarray(slide.read_region((0, 0), index, (width, height)).convert("RGB"))
        # The same JPEG streams decoded by two libjpeg-turbo builds: equal but for rounding in the upsampling.
        assert np.abs(got.astype(int) - expected).max() <= 2, index
    slide.close()


def test_wsidicom_reads_it(aperio_dicom):
    summary = wsidicom_summary(aperio_dicom[0].parent)
    assert summary["levels"] == [[1000, 760], [500, 380], [250, 190]]
    assert summary["mpp"] == [MPP, MPP]
    assert summary["label"] == [300, 200] and summary["overview"] == [500, 380]


@pytest.mark.parametrize("compression", ["none", "jpeg2000", "jpeg"])
def test_png_encoded_with_generated_levels(tmp_path, compression):
    image = pattern(1300, 900, 5)
    Image.fromarray(image).save(tmp_path / "flat.png")
    paths = convert(tmp_path / "flat.png", tmp_path / "out", compression=compression, tile_size="256")
    for path in paths:
        assert dciodvfy_errors(path) == [], path
    slide = openslide.OpenSlide(str(paths[0]))
    assert slide.level_dimensions == ((1300, 900), (650, 450), (325, 225), (163, 113))
    got = np.asarray(slide.read_region((0, 0), 0, (1300, 900)).convert("RGB"))
    level1 = np.asarray(slide.read_region((0, 0), 1, (650, 450)).convert("RGB"))
    if compression == "jpeg":
        assert np.abs(got.astype(int) - image).mean() < 3
        return
    assert np.array_equal(got, image)  # lossless
    assert np.array_equal(level1, _halve_pairs(image))  # smoothed: each pixel the mean of its 2x2 block


def test_jpeg_source_and_levels_option(tmp_path):
    Image.fromarray(pattern(700, 500, 2)).save(tmp_path / "photo.jpg", quality=92)
    paths = convert(tmp_path / "photo.jpg", tmp_path / "out", levels="2")
    assert [dciodvfy_errors(p) for p in paths] == [[], []]
    assert openslide.OpenSlide(str(paths[0])).level_dimensions == ((700, 500), (350, 250))


def test_instances_split_under_max_size_as_a_concatenation(tmp_path):
    Image.fromarray(pattern(1500, 1100, 4)).save(tmp_path / "flat.png")
    paths = convert(tmp_path / "flat.png", tmp_path / "out", compression="none", tile_size="256", max_size="1")
    assert all(p.stat().st_size <= 1 << 20 for p in paths)
    level0 = [ds for ds in by_flavor(paths)["VOLUME"] if ds.TotalPixelMatrixColumns == 1500]
    assert len(level0) > 1 and len({ds.ConcatenationUID for ds in level0}) == 1
    assert sum(ds.NumberOfFrames for ds in level0) == 6 * 5
    for path in paths:
        assert dciodvfy_errors(path, concatenated=True) == [], path
    got = np.asarray(openslide.OpenSlide(str(paths[0])).read_region((0, 0), 0, (1500, 1100)).convert("RGB"))
    assert np.array_equal(got, np.asarray(Image.open(tmp_path / "flat.png")))
    assert wsidicom_summary(tmp_path / "out")["levels"][0] == [1500, 1100]


def test_dataset_overrides_and_shortcuts(tmp_path):
    Image.fromarray(pattern(300, 200)).save(tmp_path / "small.png")
    dataset = {"PatientName": "Doe^Jane", "StudyDescription": "Biopsy",
               "SpecimenDescriptionSequence": [{"SpecimenIdentifier": "S-1"}]}
    paths = convert(tmp_path / "small.png", tmp_path / "out", dataset=dataset, patient_id="P42", mpp="0.25")
    ds = pydicom.dcmread(paths[0])
    assert (str(ds.PatientName), ds.PatientID, ds.StudyDescription) == ("Doe^Jane", "P42", "Biopsy")
    assert ds.SpecimenDescriptionSequence[0].SpecimenIdentifier == "S-1"
    assert ds.SpecimenDescriptionSequence[0].SpecimenUID  # our placeholder item kept, only the tag replaced
    assert float(ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].PixelSpacing[0]) == 0.00025
    assert dciodvfy_errors(paths[0]) == []


@pytest.mark.parametrize(("options", "parameter"), [
    ({"compression": "webp"}, "compression"), ({"quality": "0"}, "quality"), ({"tile-size": "100"}, "tile-size"),
    ({"tile-size": "x"}, "tile-size"), ({"levels": "99"}, "levels"), ({"max-size": "-1"}, "max-size"),
    ({"mpp": "nan"}, "mpp"), ({"dataset": "{"}, "dataset"), ({"dataset": "[1]"}, "dataset"),
    ({"colour": "1"}, "colour"), ({"icc": "adobe"}, "icc"),
])
def test_bad_options_name_the_parameter(options, parameter):
    with pytest.raises(BadRequest) as error:
        parse_options(options)
    assert error.value.parameter == parameter


@pytest.mark.parametrize("dataset", [{"Rows": 5}, {"NotAKeyword": "x"}, {"PatientName": {"a": 1}}])
def test_bad_datasets_are_refused(tmp_path, dataset):
    Image.fromarray(pattern(64, 64)).save(tmp_path / "tiny.png")
    with pytest.raises(BadRequest):
        convert(tmp_path / "tiny.png", tmp_path / "out", dataset=dataset)


@pytest.mark.parametrize("content", [b"not an image at all", b"II*\0" + b"\0" * 40])
def test_unreadable_sources_are_bad_requests(tmp_path, content):
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(BadRequest):
        open_slide(str(tmp_path / "bad"))


def test_truncated_tiff_is_a_bad_request(tmp_path, aperio):
    data = aperio[0].read_bytes()
    (tmp_path / "cut.svs").write_bytes(data[: len(data) // 3])
    with pytest.raises(BadRequest):
        convert(tmp_path / "cut.svs", tmp_path / "out")


def test_the_openslide_reader(aperio, tmp_path):
    """Scanner formats go through OpenSlide: exercised here on the SVS (OpenSlide's `aperio` reader), encoded
    lossless so the DICOM pixels must equal what OpenSlide reads from the source."""
    from wsi.dicomizer.openslide_source import open_openslide

    slide = open_openslide(str(aperio[0]))
    assert [(level.width_px, level.height_px) for level in slide.levels] == [(1000, 760), (500, 380), (250, 190)]
    assert slide.mpp == (MPP, MPP) and slide.objective_power == APP_MAG
    assert sorted(slide.associated) == ["label", "overview", "thumbnail"]
    out = tmp_path / "out"
    out.mkdir()
    written: list[Path] = []

    def sink(data: bytes, label: str) -> None:
        written.append(out / f"{len(written):03d}.dcm")
        written[-1].write_bytes(data)

    dicomize(slide, parse_options({"compression": "none", "tile-size": "256"}), sink)
    slide.close()
    assert [dciodvfy_errors(path) for path in written] == [[]] * len(written)
    source, back = openslide.OpenSlide(str(aperio[0])), openslide.OpenSlide(str(written[0]))
    for level, (width, height) in enumerate(source.level_dimensions):
        assert np.array_equal(np.asarray(back.read_region((0, 0), level, (width, height))),
                              np.asarray(source.read_region((0, 0), level, (width, height)))), level


def test_a_tiff_claiming_absurd_dimensions_is_refused_before_decoding(tmp_path):
    import struct

    tifffile.imwrite(tmp_path / "a.tif", np.zeros((64, 64, 3), np.uint8), tile=(16, 16), photometric="rgb")
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        offsets = [tif.pages[0].tags[code].valueoffset for code in (256, 257)]  # ImageWidth, ImageLength (LONG)
    data = bytearray((tmp_path / "a.tif").read_bytes())
    for offset in offsets:
        struct.pack_into("<I", data, offset, 4_000_000)
    (tmp_path / "a.tif").write_bytes(bytes(data))
    with pytest.raises(BadRequest, match="4000000x4000000 pixels: over"):
        open_slide(str(tmp_path / "a.tif"))
