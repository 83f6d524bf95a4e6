"""Our own VL Whole Slide Microscopy writer for tests (pydicom + imagecodecs), from a numpy source image.

It writes what real producers write and what trips readers: every transfer syntax the codec handles,
TILED_FULL and TILED_SPARSE with holes, concatenations, several focal planes and optical paths,
associated images, non-power-of-two levels and padded edge tiles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import imagecodecs
import numpy as np
from PIL import Image
from pydicom._uid_dict import UID_dictionary
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import get_encoder
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID, RLELossless, generate_uid

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
# pydicom 3.0 predates JPEG XL in DICOM and refuses to write what it does not know: teach it the UIDs.
for _uid, _name in (("1.2.840.10008.1.2.4.110", "JPEG XL Lossless"),
                    ("1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression"),
                    ("1.2.840.10008.1.2.4.112", "JPEG XL")):
    UID_dictionary.setdefault(_uid, (_name, "Transfer Syntax", "", "", ""))
ORIGIN_MM = (20.0, 40.0)  # slide coordinates of the top-left pixel
NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}


def _jpeg8(tile: np.ndarray) -> bytes:
    return bytes(imagecodecs.jpeg8_encode(tile, level=92))


def _lossless_jpeg(tile: np.ndarray) -> bytes:
    return bytes(imagecodecs.jpeg8_encode(tile, lossless=True, colorspace="RGB", outcolorspace="RGB"))


def _rle(tile: np.ndarray) -> bytes:
    return get_encoder(RLELossless).encode(
        tile, rows=tile.shape[0], columns=tile.shape[1], samples_per_pixel=3, bits_allocated=8, bits_stored=8,
        pixel_representation=0, photometric_interpretation="RGB", number_of_frames=1, planar_configuration=0)


# transfer syntax -> (frame encoder, photometric interpretation written)
ENCODERS = {
    "1.2.840.10008.1.2.4.50": (_jpeg8, "YBR_FULL_422"),
    "1.2.840.10008.1.2.4.51": (_jpeg8, "YBR_FULL_422"),
    "1.2.840.10008.1.2.4.57": (_lossless_jpeg, "RGB"),
    "1.2.840.10008.1.2.4.70": (_lossless_jpeg, "RGB"),
    "1.2.840.10008.1.2.4.80": (lambda t: bytes(imagecodecs.jpegls_encode(t)), "RGB"),
    "1.2.840.10008.1.2.4.81": (lambda t: bytes(imagecodecs.jpegls_encode(t, level=2)), "RGB"),
    "1.2.840.10008.1.2.4.90": (lambda t: bytes(imagecodecs.jpeg2k_encode(t, codecformat="J2K", reversible=True,
                                                                         mct=True)), "YBR_RCT"),
    "1.2.840.10008.1.2.4.91": (lambda t: bytes(imagecodecs.jpeg2k_encode(t, level=40, codecformat="J2K",
                                                                         reversible=False)), "YBR_ICT"),
    "1.2.840.10008.1.2.4.201": (lambda t: bytes(imagecodecs.htj2k_encode(t, reversible=True)), "YBR_RCT"),
    "1.2.840.10008.1.2.4.202": (lambda t: bytes(imagecodecs.htj2k_encode(t, reversible=True)), "YBR_RCT"),
    "1.2.840.10008.1.2.4.203": (lambda t: bytes(imagecodecs.htj2k_encode(t, level=0.002, reversible=False)),
                                "YBR_ICT"),
    "1.2.840.10008.1.2.4.110": (lambda t: bytes(imagecodecs.jpegxl_encode(t, lossless=True)), "RGB"),
    "1.2.840.10008.1.2.4.111": (lambda t: bytes(imagecodecs.jpegxl_encode_jpeg(_jpeg8(t))), "YBR_FULL_422"),
    "1.2.840.10008.1.2.4.112": (lambda t: bytes(imagecodecs.jpegxl_encode(t, distance=1.0)), "RGB"),
    "1.2.840.10008.1.2.5": (_rle, "RGB"),
}


def lab_to_rgb(lab: Sequence[int]) -> tuple[int, int, int]:
    """DICOM-encoded CIELab (L 0..65535 for 0..100, a/b 0..65535 for -128..127) to sRGB, D65 white."""
    lightness = lab[0] * 100.0 / 65535
    a, b = (value * 255.0 / 65535 - 128 for value in lab[1:])
    fy = (lightness + 16) / 116
    f = np.array([fy + a / 500, fy, fy - b / 200])
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * np.array([0.95047, 1.0, 1.08883])
    linear = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]]) @ xyz
    linear = np.clip(linear, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    red, green, blue = (int(v + 0.5) for v in np.clip(srgb * 255, 0, 255))
    return red, green, blue


def plane_image(source: np.ndarray, path_index: int, plane_index: int) -> np.ndarray:
    """What optical path `path_index`, focal plane `plane_index` shows: a tint and a brightness step."""
    shifted = source.astype(np.int16)
    shifted[..., path_index % 3] += 40 * path_index
    shifted += 15 * plane_index
    return np.clip(shifted, 0, 255).astype(np.uint8)


def level_image(image: np.ndarray, factor: int) -> np.ndarray:
    """Downsampled level: ceil(size / factor), area-averaged by Pillow."""
    if factor == 1:
        return image
    height, width = image.shape[:2]
    size = (-(-width // factor), -(-height // factor))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def _tiles(image: np.ndarray, tile: tuple[int, int], background: tuple[int, int, int]
           ) -> Iterable[tuple[int, int, np.ndarray]]:
    """(column, row, tile) in TILED_FULL order, edge tiles padded with the background."""
    width, height = tile
    for y in range(0, image.shape[0], height):
        for x in range(0, image.shape[1], width):
            block = np.empty((height, width, 3), np.uint8)
            block[:] = background
            part = image[y:y + height, x:x + width]
            block[: part.shape[0], : part.shape[1]] = part
            yield x // width, y // height, block


def _base(uids: dict[str, str], flavor: str, width: int, height: int, tile: tuple[int, int], spacing_mm: float,
          descriptions: dict[str, str]) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = WSI_SOP_CLASS
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uids["study"], uids["series"]
    ds.FrameOfReferenceUID, ds.ContainerIdentifier = uids["frame"], "SLIDE-1"
    ds.Modality, ds.PatientID, ds.PatientName = "SM", "WSI-TEST", "Test^Slide"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber, ds.StudyID = "20260101", "120000", "", "1"
    ds.StudyDescription = descriptions.get("study", "Test study")
    ds.SeriesDescription = descriptions.get("series", "Test slide")
    ds.SeriesNumber, ds.Manufacturer = 1, "orthanc-wsi-py tests"
    derived = flavor == "VOLUME-DERIVED"
    ds.ImageType = ["DERIVED" if derived else "ORIGINAL", "PRIMARY",
                    "VOLUME" if flavor.startswith("VOLUME") else flavor, "RESAMPLED" if derived else "NONE"]
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = width, height
    ds.Columns, ds.Rows = tile
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 3, 8, 8, 7
    ds.PixelRepresentation, ds.PlanarConfiguration = 0, 0
    ds.ImagedVolumeWidth, ds.ImagedVolumeHeight = width * spacing_mm, height * spacing_mm
    ds.ImagedVolumeDepth = 0.001
    ds.ImageOrientationSlide = [0, -1, 0, -1, 0, 0]
    origin = Dataset()
    origin.XOffsetInSlideCoordinateSystem, origin.YOffsetInSlideCoordinateSystem = ORIGIN_MM
    ds.TotalPixelMatrixOriginSequence = DicomSequence([origin])
    ds.SpecimenLabelInImage, ds.BurnedInAnnotation = "NO", "NO"
    ds.VolumetricProperties, ds.FocusMethod, ds.ExtendedDepthOfField = "VOLUME", "AUTO", "NO"
    ds.AcquisitionDateTime = "20260101120000"
    return ds


def _optical_paths(ds: Dataset, paths: Sequence[str], icc: bytes | None) -> None:
    items = []
    for identifier in paths:
        item = Dataset()
        item.OpticalPathIdentifier, item.OpticalPathDescription = identifier, f"path {identifier}"
        illumination = Dataset()
        illumination.CodeValue, illumination.CodingSchemeDesignator = "111744", "DCM"
        illumination.CodeMeaning = "Brightfield illumination"
        item.IlluminationTypeCodeSequence = DicomSequence([illumination])
        colour = Dataset()
        colour.CodeValue, colour.CodingSchemeDesignator, colour.CodeMeaning = "414298005", "SCT", "Full Spectrum"
        item.IlluminationColorCodeSequence = DicomSequence([colour])
        if icc:
            item.ICCProfile = icc
        items.append(item)
    ds.OpticalPathSequence = DicomSequence(items)
    ds.NumberOfOpticalPaths = len(paths)


def _shared_groups(ds: Dataset, spacing_mm: float, plane_step_mm: float) -> None:
    measures = Dataset()
    measures.PixelSpacing = [spacing_mm, spacing_mm]
    measures.SliceThickness = 0.001
    measures.SpacingBetweenSlices = plane_step_mm
    shared = Dataset()
    shared.PixelMeasuresSequence = DicomSequence([measures])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])


def _frame_group(column: int, row: int, z_um: float, path: str, tile: tuple[int, int],
                 spacing_mm: float) -> Dataset:
    position = Dataset()
    position.ColumnPositionInTotalImagePixelMatrix = column * tile[0] + 1
    position.RowPositionInTotalImagePixelMatrix = row * tile[1] + 1
    # ImageOrientationSlide [0, -1, 0, -1, 0, 0]: going down the rows decreases X, along a row decreases Y.
    position.XOffsetInSlideCoordinateSystem = round(ORIGIN_MM[0] - row * tile[1] * spacing_mm, 6)
    position.YOffsetInSlideCoordinateSystem = round(ORIGIN_MM[1] - column * tile[0] * spacing_mm, 6)
    position.ZOffsetInSlideCoordinateSystem = z_um
    path_item = Dataset()
    path_item.OpticalPathIdentifier = path
    group = Dataset()
    group.PlanePositionSlideSequence = DicomSequence([position])
    group.OpticalPathIdentificationSequence = DicomSequence([path_item])
    return group


def _save(ds: Dataset, frames: list[bytes], syntax: str, photometric: str, path: Path) -> Path:
    ds.PhotometricInterpretation = photometric if syntax not in NATIVE else "RGB"
    ds.NumberOfFrames = len(frames)
    ds.SOPInstanceUID = ds.get("SOPInstanceUID") or generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = WSI_SOP_CLASS, ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    if syntax in NATIVE:
        ds.PixelData = b"".join(frames)
    else:
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def write_slide(out_dir: Path, image: np.ndarray, *,
                tile_size: tuple[int, int] | Sequence[tuple[int, int]] = (256, 256),
                downsamples: Sequence[int] = (1, 2, 4), transfer_syntax: str = "1.2.840.10008.1.2.4.50",
                organization: str = "TILED_FULL", holes: set[tuple[int, int, int]] = frozenset(),
                focal_planes: Sequence[float] = (0.0,), optical_paths: Sequence[str] = ("1",),
                frames_per_instance: int | None = None, associated: Sequence[str] = (),
                pixel_spacing_mm: float = 0.00025, icc: bytes | None = None,
                background_lab: tuple[int, int, int] | None = None,
                descriptions: dict[str, str] | None = None, study_uid: str | None = None,
                series_uid: str | None = None) -> list[Path]:
    """Write a pyramid (finest level first) and its associated images; returns the file paths.

    tile_size: (width, height) for every level, or one (width, height) per level.
    holes: (level, column, row) tiles left out (TILED_SPARSE only). Each (optical path, focal plane)
    shows `plane_image(image, path index, plane index)`.
    """
    tile_sizes = _tile_sizes(tile_size, len(downsamples))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    uids = {"study": study_uid or generate_uid(), "series": series_uid or generate_uid(), "frame": generate_uid()}
    background = (255, 255, 255) if background_lab is None else lab_to_rgb(background_lab)
    encode, photometric = ENCODERS.get(transfer_syntax, (lambda t: t.tobytes(), "RGB"))
    written = []
    for level, factor in enumerate(downsamples):
        tile = tile_sizes[level]
        scaled = level_image(image, factor)
        frames, groups = [], []
        for p_index, path in enumerate(optical_paths):
            for z_index, z_um in enumerate(focal_planes):
                view = plane_image(scaled, p_index, z_index) if (p_index or z_index) else scaled
                for column, row, block in _tiles(view, tile, background):
                    if organization == "TILED_SPARSE" and (level, column, row) in holes:
                        continue
                    frames.append(encode(block))
                    groups.append(_frame_group(column, row, z_um, path, tile, pixel_spacing_mm * factor))
        flavor = "VOLUME" if level == 0 else "VOLUME-DERIVED"
        ds = _base(uids, flavor, scaled.shape[1], scaled.shape[0], tile, pixel_spacing_mm * factor,
                   descriptions or {})
        ds.DimensionOrganizationType = organization
        ds.TotalPixelMatrixFocalPlanes = len(focal_planes)
        ds.InstanceNumber = level + 1
        if background_lab is not None:
            ds.RecommendedAbsentPixelCIELabValue = list(background_lab)
        _optical_paths(ds, optical_paths, icc)
        step_mm = (focal_planes[1] - focal_planes[0]) / 1000 if len(focal_planes) > 1 else 0.001
        _shared_groups(ds, pixel_spacing_mm * factor, step_mm)
        if organization == "TILED_SPARSE":
            ds.PerFrameFunctionalGroupsSequence = DicomSequence(groups)
        written += _write_parts(ds, frames, transfer_syntax, photometric, out_dir / f"level{level}",
                                frames_per_instance)
    for number, flavor in enumerate(associated):
        written.append(_associated(out_dir, uids, flavor, image, transfer_syntax, encode, photometric,
                                   pixel_spacing_mm, 100 + number))
    return written


def _tile_sizes(tile_size: tuple[int, int] | Sequence[tuple[int, int]], levels: int) -> list[tuple[int, int]]:
    if len(tile_size) == 2 and all(isinstance(v, int) for v in tile_size):
        return [tuple(tile_size)] * levels  # type: ignore[list-item]
    if len(tile_size) != levels:
        raise ValueError(f"{len(tile_size)} tile sizes for {levels} levels")
    return [tuple(size) for size in tile_size]  # type: ignore[misc]


def _write_parts(ds: Dataset, frames: list[bytes], syntax: str, photometric: str, stem: Path,
                 per_instance: int | None) -> list[Path]:
    """One instance, or a concatenation of parts of `per_instance` frames each."""
    if not per_instance or per_instance >= len(frames):
        return [_save(ds, frames, syntax, photometric, stem.with_suffix(".dcm"))]
    source_uid, concatenation_uid = generate_uid(), generate_uid()
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    paths = []
    for part, start in enumerate(range(0, len(frames), per_instance)):
        piece = ds.copy()
        piece.SOPInstanceUID = generate_uid()
        piece.SOPInstanceUIDOfConcatenationSource = source_uid
        piece.ConcatenationUID = concatenation_uid
        piece.ConcatenationFrameOffsetNumber = start
        piece.InConcatenationNumber = part + 1
        piece.InConcatenationTotalNumber = -(-len(frames) // per_instance)
        if per_frame is not None:
            piece.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame[start:start + per_instance])
        paths.append(_save(piece, frames[start:start + per_instance], syntax, photometric,
                           stem.parent / f"{stem.name}-part{part + 1}.dcm"))
    return paths


def _associated(out_dir: Path, uids: dict[str, str], flavor: str, image: np.ndarray, syntax: str, encode,
                photometric: str, spacing_mm: float, number: int) -> Path:
    """A single-frame associated image: a recognisable picture per kind."""
    height, width = 120, 200
    picture = np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BOX)).copy()
    if flavor == "LABEL":
        picture[:] = 250
        picture[30:90, 20:180] = (20, 20, 120)  # a dark bar like a printed barcode
    ds = _base(uids, flavor, width, height, (width, height), spacing_mm, {})
    ds.ImageType = ["ORIGINAL", "PRIMARY", flavor, "RESAMPLED" if flavor == "THUMBNAIL" else "NONE"]
    ds.DimensionOrganizationType = "TILED_FULL"
    ds.TotalPixelMatrixFocalPlanes = 1
    ds.InstanceNumber = number
    _optical_paths(ds, ["1"], None)
    _shared_groups(ds, spacing_mm, 0.001)
    return _save(ds, [encode(picture)], syntax, photometric, out_dir / f"{flavor.lower()}.dcm")


def recode_as_lossless_jpeg(path: Path) -> None:
    """Rewrite a JPEG baseline instance's frames as 8-bit lossless JPEG (SOF3), its label left at baseline: what a
    browser cannot decode although the tags say it could (the frame map's verdict from tags alone lists it)."""
    import pydicom
    from pydicom.encaps import generate_frames

    ds = pydicom.dcmread(path)
    count = int(ds.NumberOfFrames)
    frames = [bytes(imagecodecs.jpeg8_encode(imagecodecs.jpeg8_decode(frame), lossless=True))
              for frame in generate_frames(ds.PixelData, number_of_frames=count)]
    ds.PixelData = encapsulate(frames)
    ds.save_as(path, enforce_file_format=True)
