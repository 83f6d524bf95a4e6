"""A small DICOM whole-slide writer (pydicom + Pillow JPEG) for the layouts the viewer must cope with.

TILED_SPARSE with per-frame positions: levels of any downsample, tiles left out, several focal planes and
optical paths, and associated label/overview images. Edge tiles are padded with magenta, which no source
pixel comes close to, so padding that reaches the screen is easy to find; tests/support/writer.py pads with
the background colour (as scanners do), which would hide such a leak. Focal planes away from 0 are blurred,
so a plane change shows as a loss of sharpness.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import JPEGBaseline8Bit, generate_uid

from tests.support.source import textured_image

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
PADDING = (255, 0, 255)


@dataclass
class SlideSpec:
    pixels: np.ndarray  # full resolution RGB
    spacing_mm: float  # square pixels
    factors: tuple[int, ...] = (1, 2, 4)
    tile: int = 256
    missing: set[tuple[int, int, int]] = field(default_factory=set)  # (level, tx, ty) left out
    focal_planes_um: tuple[float, ...] = (0.0,)
    optical_paths: tuple[tuple[str, str], ...] = (("1", "Brightfield"),)
    associated: tuple[str, ...] = ()  # "LABEL", "OVERVIEW", "THUMBNAIL"
    description: str = "Test slide"
    background_lab: tuple[int, int, int] | None = None  # RecommendedAbsentPixelCIELabValue, DICOM-scaled


def level_pixels(pixels: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return pixels
    height, width = pixels.shape[:2]
    size = (math.ceil(width / factor), math.ceil(height / factor))
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BOX))


def variant(pixels: np.ndarray, path_index: int, z_um: float) -> np.ndarray:
    """What a focal plane and an optical path look like: blur away from focus, a different stain."""
    image = Image.fromarray(pixels)
    if z_um:
        image = image.filter(ImageFilter.GaussianBlur(radius=abs(z_um) * 2))
    out = np.asarray(image)
    return out[..., ::-1].copy() if path_index else out  # another path: channels swapped (blue-ish)


def _jpeg(tile: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(tile).save(buffer, "JPEG", quality=95, subsampling=0)
    return buffer.getvalue()


def _tiles(pixels: np.ndarray, size: int) -> Iterable[tuple[int, int, np.ndarray]]:
    height, width = pixels.shape[:2]
    for ty in range(math.ceil(height / size)):
        for tx in range(math.ceil(width / size)):
            tile = np.empty((size, size, 3), np.uint8)
            tile[:] = PADDING
            part = pixels[ty * size:(ty + 1) * size, tx * size:(tx + 1) * size]
            tile[:part.shape[0], :part.shape[1]] = part
            yield tx, ty, tile


def _base(spec: SlideSpec, uids: tuple[str, str, str], flavor: str, number: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.SOPClassUID, ds.SOPInstanceUID = WSI_SOP_CLASS, generate_uid()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = uids
    ds.InstanceNumber = number
    ds.PatientID, ds.PatientName, ds.StudyDate, ds.StudyID = "WSI-1", "Slide^Test", "20240102", "1"
    ds.Modality, ds.SeriesDescription, ds.SeriesNumber = "SM", spec.description, 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", flavor, "NONE"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.LossyImageCompression = "01"
    ds.DimensionOrganizationType = "TILED_SPARSE"
    ds.ImagedVolumeWidth = spec.pixels.shape[1] * spec.spacing_mm
    ds.ImagedVolumeHeight = spec.pixels.shape[0] * spec.spacing_mm
    ds.ImagedVolumeDepth = 0.001
    if spec.background_lab:
        ds.RecommendedAbsentPixelCIELabValue = list(spec.background_lab)
    paths = []
    for identifier, description in spec.optical_paths:
        item = Dataset()
        item.OpticalPathIdentifier, item.OpticalPathDescription = identifier, description
        item.ObjectiveLensPower = 20
        paths.append(item)
    ds.OpticalPathSequence = Sequence(paths)
    ds.NumberOfOpticalPaths = len(paths)
    return ds


def _frame_group(column: int, row: int, z_um: float, path: str, spacing_mm: float) -> Dataset:
    position = Dataset()
    position.ColumnPositionInTotalImagePixelMatrix, position.RowPositionInTotalImagePixelMatrix = column, row
    position.XOffsetInSlideCoordinateSystem = (row - 1) * spacing_mm
    position.YOffsetInSlideCoordinateSystem = (column - 1) * spacing_mm
    position.ZOffsetInSlideCoordinateSystem = z_um
    path_item = Dataset()
    path_item.OpticalPathIdentifier = path
    group = Dataset()
    group.PlanePositionSlideSequence = Sequence([position])
    group.OpticalPathIdentificationSequence = Sequence([path_item])
    return group


def _finish(ds: Dataset, frames: list[bytes], groups: list[Dataset], tile_px: tuple[int, int],
            total_px: tuple[int, int], spacing_mm: float, planes: int) -> bytes:
    ds.Columns, ds.Rows = tile_px
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = total_px
    ds.TotalPixelMatrixFocalPlanes = planes
    ds.NumberOfFrames = len(frames)
    measures = Dataset()
    measures.PixelSpacing = [spacing_mm, spacing_mm]
    measures.SliceThickness = 0.001
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PerFrameFunctionalGroupsSequence = Sequence(groups)
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_slide(spec: SlideSpec) -> list[bytes]:
    """DICOM files of one slide: one instance per level, then the associated images."""
    uids = (generate_uid(), generate_uid(), generate_uid())  # study, series, frame of reference
    files = []
    for index, factor in enumerate(spec.factors):
        pixels = level_pixels(spec.pixels, factor)
        spacing = spec.spacing_mm * spec.pixels.shape[1] / pixels.shape[1]
        frames, groups = [], []
        for path_index, (path, _) in enumerate(spec.optical_paths):
            for z in spec.focal_planes_um:
                shown = variant(pixels, path_index, z)
                for tx, ty, tile in _tiles(shown, spec.tile):
                    if (index, tx, ty) in spec.missing:
                        continue
                    frames.append(_jpeg(tile))
                    groups.append(_frame_group(tx * spec.tile + 1, ty * spec.tile + 1, z, path, spacing))
        ds = _base(spec, uids, "VOLUME", index + 1)
        files.append(_finish(ds, frames, groups, (spec.tile, spec.tile), (pixels.shape[1], pixels.shape[0]),
                             spacing, len(spec.focal_planes_um)))
    for number, flavor in enumerate(spec.associated, start=len(spec.factors) + 1):
        picture = _associated_picture(spec.pixels, flavor)
        ds = _base(spec, uids, flavor, number)
        size = (picture.shape[1], picture.shape[0])
        group = _frame_group(1, 1, 0.0, spec.optical_paths[0][0], spec.spacing_mm)
        files.append(_finish(ds, [_jpeg(picture)], [group], size, size, spec.spacing_mm, 1))
    return files


def _associated_picture(pixels: np.ndarray, flavor: str) -> np.ndarray:
    """A label is white with a black bar code-like pattern; overview and thumbnail are the slide, small."""
    if flavor == "LABEL":
        label = np.full((200, 300, 3), 255, np.uint8)
        label[40:160, 30:270:12] = 0
        return label
    width = 400 if flavor == "OVERVIEW" else 200
    image = Image.fromarray(pixels)
    return np.asarray(image.resize((width, max(1, round(width * image.height / image.width)))))



# The slides of the browser tests: levels 1, 3, 9 (not powers of two), and a TILED_SPARSE slide with
# left-out tiles, two optical paths, three focal planes and associated images.
NPOT = SlideSpec(textured_image(2000, 1500, seed=11), spacing_mm=0.0005, factors=(1, 3, 9),
                 description="Levels 1, 3, 9")
SPARSE = SlideSpec(textured_image(1500, 1100, seed=12), spacing_mm=0.0005, factors=(1, 4),
                   missing={(0, 2, 1), (0, 3, 1), (0, 2, 2)}, focal_planes_um=(-1.0, 0.0, 1.0),
                   optical_paths=(("1", "Brightfield"), ("2", "Fluorescence")),
                   associated=("LABEL", "OVERVIEW", "THUMBNAIL"), description="Sparse, 2 paths, 3 planes",
                   background_lab=(58982, 32896, 32896))  # L* 90, neutral: a light grey
