"""The test-data writer (tests/support/writer.py) and source image, read back with pydicom.

pydicom decodes what its plugins can; HTJ2K, JPEG XL and lossless JPEG are decoded with imagecodecs,
which pydicom 3.0 does not use.
"""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from tests.support.source import psnr, textured_image
from tests.support.writer import ENCODERS, WSI_SOP_CLASS, lab_to_rgb, level_image, plane_image, write_slide

NATIVE = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"]
LOSSLESS = {*NATIVE, "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
            "1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.5"}
IMAGECODECS_DECODERS = {
    "1.2.840.10008.1.2.4.57": imagecodecs.jpeg8_decode, "1.2.840.10008.1.2.4.70": imagecodecs.jpeg8_decode,
    "1.2.840.10008.1.2.4.201": imagecodecs.htj2k_decode, "1.2.840.10008.1.2.4.202": imagecodecs.htj2k_decode,
    "1.2.840.10008.1.2.4.203": imagecodecs.htj2k_decode, "1.2.840.10008.1.2.4.110": imagecodecs.jpegxl_decode,
    "1.2.840.10008.1.2.4.111": imagecodecs.jpegxl_decode, "1.2.840.10008.1.2.4.112": imagecodecs.jpegxl_decode,
}
WHITE = (255, 255, 255)


@pytest.fixture(scope="module")
def source() -> np.ndarray:
    return textured_image(300, 200, seed=1)


def read(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)


def frames_rgb(ds: pydicom.Dataset) -> np.ndarray:
    """All frames as (n, rows, columns, 3) RGB."""
    syntax = str(ds.file_meta.TransferSyntaxUID)
    if syntax in IMAGECODECS_DECODERS:
        decode = IMAGECODECS_DECODERS[syntax]
        return np.stack([decode(f) for f in generate_frames(ds.PixelData, number_of_frames=ds.NumberOfFrames)])
    pixels = ds.pixel_array
    return pixels if ds.NumberOfFrames > 1 else pixels[None]


def expected_tile(image: np.ndarray, column: int, row: int, tile: tuple[int, int],
                  background: tuple[int, int, int] = WHITE) -> np.ndarray:
    width, height = tile
    block = np.empty((height, width, 3), np.uint8)
    block[:] = background
    part = image[row * height:(row + 1) * height, column * width:(column + 1) * width]
    block[: part.shape[0], : part.shape[1]] = part
    return block


# ---- source image -----------------------------------------------------------------------------------

def test_source_is_deterministic_and_textured():
    big = textured_image(4000, 3000)
    assert big.shape == (3000, 4000, 3) and big.dtype == np.uint8
    assert np.array_equal(textured_image(300, 200, seed=5), textured_image(300, 200, seed=5))
    assert not np.array_equal(textured_image(300, 200, seed=5), textured_image(300, 200, seed=6))
    assert big.std(axis=(0, 1)).min() > 10  # every channel varies


def test_misplaced_tiles_score_low(source):
    tile = source[:100, :128]
    assert psnr(tile, tile) == float("inf")
    assert psnr(source[:100, 128:256], tile) < 20  # a neighbour is not a near match
    with pytest.raises(ValueError):
        psnr(tile, source)


# ---- geometry ---------------------------------------------------------------------------------------

def test_levels_geometry_and_attributes(source, tmp_path):
    paths = write_slide(tmp_path, source, tile_size=(128, 96), downsamples=(1, 3, 7), pixel_spacing_mm=0.0005)
    datasets = [read(p) for p in paths]
    assert len(datasets) == 3
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1 and len({ds.StudyInstanceUID for ds in datasets}) == 1
    for ds, factor in zip(datasets, (1, 3, 7), strict=True):
        width, height = -(-300 // factor), -(-200 // factor)
        assert ds.SOPClassUID == WSI_SOP_CLASS and ds.Modality == "SM"
        assert (ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows) == (width, height)
        assert (ds.Columns, ds.Rows) == (128, 96)
        assert ds.NumberOfFrames == -(-width // 128) * -(-height // 96)
        assert ds.DimensionOrganizationType == "TILED_FULL" and "PerFrameFunctionalGroupsSequence" not in ds
        assert list(ds.ImageType)[:3] == (["ORIGINAL", "PRIMARY", "VOLUME"] if factor == 1
                                          else ["DERIVED", "PRIMARY", "VOLUME"])
        measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        assert [float(v) for v in measures.PixelSpacing] == pytest.approx([0.0005 * factor] * 2)
        assert "SliceThickness" in measures
        assert ds.TotalPixelMatrixFocalPlanes == 1 and ds.NumberOfOpticalPaths == 1
        assert ds.OpticalPathSequence[0].OpticalPathIdentifier == "1"
        assert float(ds.ImagedVolumeWidth) == pytest.approx(width * 0.0005 * factor)
        assert len(ds.ImageOrientationSlide) == 6 and len(ds.TotalPixelMatrixOriginSequence) == 1
        frames = frames_rgb(ds)
        level = level_image(source, factor)
        for index in (0, ds.NumberOfFrames - 1):  # first and last (padded) tile
            column, row = index % -(-width // 128), index // -(-width // 128)
            assert psnr(frames[index], expected_tile(level, column, row, (128, 96))) > 25


def test_per_level_tile_sizes(source, tmp_path):
    paths = write_slide(tmp_path, source, tile_size=[(128, 128), (64, 32)], downsamples=(1, 2))
    assert [(read(p).Columns, read(p).Rows) for p in paths] == [(128, 128), (64, 32)]
    with pytest.raises(ValueError):
        write_slide(tmp_path / "bad", source, tile_size=[(128, 128)], downsamples=(1, 2))


def test_given_uids_and_descriptions(source, tmp_path):
    paths = write_slide(tmp_path, source, downsamples=(1,), study_uid="1.2.3.4", series_uid="1.2.3.4.5",
                        descriptions={"study": "S", "series": "T"})
    ds = read(paths[0])
    assert (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.StudyDescription, ds.SeriesDescription) == \
        ("1.2.3.4", "1.2.3.4.5", "S", "T")


# ---- transfer syntaxes ------------------------------------------------------------------------------

@pytest.mark.parametrize("syntax", NATIVE + sorted(ENCODERS))
def test_frames_decode_to_the_source(source, tmp_path, syntax):
    paths = write_slide(tmp_path, source, tile_size=(128, 128), downsamples=(1,), transfer_syntax=syntax)
    ds = read(paths[0])
    assert ds.file_meta.TransferSyntaxUID == syntax
    frames = frames_rgb(ds)
    assert frames.shape == (6, 128, 128, 3)
    for index, frame in enumerate(frames):
        expected = expected_tile(source, index % 3, index // 3, (128, 128))
        if syntax in LOSSLESS:
            assert np.array_equal(frame, expected), index
        else:
            assert psnr(frame, expected) > 25, (index, psnr(frame, expected))  # misplaced: < 20


# ---- sparse, planes, paths, concatenations ----------------------------------------------------------

def test_sparse_positions_and_holes(source, tmp_path):
    paths = write_slide(tmp_path, source, tile_size=(128, 128), downsamples=(1, 2), organization="TILED_SPARSE",
                        holes={(0, 1, 0), (1, 0, 0)}, transfer_syntax="1.2.840.10008.1.2.1")
    level0, level1 = read(paths[0]), read(paths[1])
    assert level0.DimensionOrganizationType == "TILED_SPARSE"
    positions = [(g.PlanePositionSlideSequence[0].ColumnPositionInTotalImagePixelMatrix,
                  g.PlanePositionSlideSequence[0].RowPositionInTotalImagePixelMatrix)
                 for g in level0.PerFrameFunctionalGroupsSequence]
    assert positions == [(1, 1), (257, 1), (1, 129), (129, 129), (257, 129)]  # (129, 1) is the hole
    assert level0.NumberOfFrames == 5 and level1.NumberOfFrames == 1
    frames = frames_rgb(level0)
    assert np.array_equal(frames[1], expected_tile(source, 2, 0, (128, 128)))
    z = level0.PerFrameFunctionalGroupsSequence[0].PlanePositionSlideSequence[0].ZOffsetInSlideCoordinateSystem
    assert float(z) == 0.0


def test_focal_planes_and_optical_paths(source, tmp_path):
    full = read(write_slide(tmp_path / "full", source, tile_size=(128, 128), downsamples=(1,),
                            focal_planes=[0.0, 1.5], optical_paths=["A", "B"],
                            transfer_syntax="1.2.840.10008.1.2.1")[0])
    assert full.NumberOfFrames == 6 * 2 * 2
    assert full.TotalPixelMatrixFocalPlanes == 2 and full.NumberOfOpticalPaths == 2
    assert [p.OpticalPathIdentifier for p in full.OpticalPathSequence] == ["A", "B"]
    frames = frames_rgb(full)
    # TILED_FULL order: tiles, then focal planes, then optical paths.
    assert np.array_equal(frames[6], expected_tile(plane_image(source, 0, 1), 0, 0, (128, 128)))
    assert np.array_equal(frames[12], expected_tile(plane_image(source, 1, 0), 0, 0, (128, 128)))
    assert psnr(frames[0], frames[6]) < 30 and psnr(frames[0], frames[12]) < 30  # visibly different

    sparse = read(write_slide(tmp_path / "sparse", source, tile_size=(128, 128), downsamples=(1,),
                              focal_planes=[0.0, 1.5], optical_paths=["A", "B"], organization="TILED_SPARSE",
                              transfer_syntax="1.2.840.10008.1.2.1")[0])
    groups = sparse.PerFrameFunctionalGroupsSequence
    assert float(groups[6].PlanePositionSlideSequence[0].ZOffsetInSlideCoordinateSystem) == 1.5
    assert groups[12].OpticalPathIdentificationSequence[0].OpticalPathIdentifier == "B"


def test_concatenation(source, tmp_path):
    whole = frames_rgb(read(write_slide(tmp_path / "one", source, tile_size=(64, 64), downsamples=(1,),
                                        transfer_syntax="1.2.840.10008.1.2.1")[0]))
    parts = [read(p) for p in write_slide(tmp_path / "parts", source, tile_size=(64, 64), downsamples=(1,),
                                          frames_per_instance=8, transfer_syntax="1.2.840.10008.1.2.1")]
    assert [p.NumberOfFrames for p in parts] == [8, 8, 4]
    assert len({p.ConcatenationUID for p in parts}) == 1
    assert len({p.SOPInstanceUIDOfConcatenationSource for p in parts}) == 1
    assert len({p.SOPInstanceUID for p in parts}) == 3
    assert [p.ConcatenationFrameOffsetNumber for p in parts] == [0, 8, 16]
    assert [p.InConcatenationNumber for p in parts] == [1, 2, 3]
    assert np.array_equal(np.concatenate([frames_rgb(p) for p in parts]), whole)


# ---- associated images, colour --------------------------------------------------------------------

def test_associated_images(source, tmp_path):
    paths = write_slide(tmp_path, source, downsamples=(1,), associated=("LABEL", "OVERVIEW", "THUMBNAIL"))
    kinds = {read(p).ImageType[2]: read(p) for p in paths[1:]}
    assert set(kinds) == {"LABEL", "OVERVIEW", "THUMBNAIL"}
    for ds in kinds.values():
        assert ds.NumberOfFrames == 1 and ds.SeriesInstanceUID == read(paths[0]).SeriesInstanceUID


def test_background_and_icc(source, tmp_path):
    lab = (0, 32896, 32896)
    ds = read(write_slide(tmp_path, source, tile_size=(128, 128), downsamples=(1,), background_lab=lab,
                          icc=b"fake-icc-profile", transfer_syntax="1.2.840.10008.1.2.1")[0])
    assert list(ds.RecommendedAbsentPixelCIELabValue) == list(lab)
    assert ds.OpticalPathSequence[0].ICCProfile == b"fake-icc-profile"
    last = frames_rgb(ds)[-1]
    assert not last[-1, -1].any()  # padding in the recommended (black) background


def test_lab_to_rgb():
    assert lab_to_rgb((65535, 32896, 32896)) == (255, 255, 255)
    assert lab_to_rgb((0, 32896, 32896)) == (0, 0, 0)
    # sRGB red is L*53.24 a*80.09 b*67.20
    red = lab_to_rgb((round(53.24 * 655.35), round((80.09 + 128) * 257), round((67.20 + 128) * 257)))
    assert red[0] >= 253 and red[1] <= 3 and red[2] <= 3
