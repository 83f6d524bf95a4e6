"""Slides written by independent producers: OrthancWSIDicomizer (Debian orthanc-wsi) and wsidicomizer (PyPI).

wsidicomizer lives in a virtualenv of its own (tests/.cache/wsidicomizer, made by scripts/setup.sh test):
it needs a newer Pillow than iiif-prezi3 allows in the main one. Results are cached by content hash.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "tests" / ".cache" / "producers"
DICOMIZER = "/usr/bin/OrthancWSIDicomizer"
WSIDICOMIZER = ROOT / "tests" / ".cache" / "wsidicomizer" / "bin" / "wsidicomizer"
TIMEOUT_S = 300


def _key(source: np.ndarray, *params: object) -> str:
    digest = hashlib.sha256(source.tobytes())
    digest.update(repr((source.shape, params)).encode())
    return digest.hexdigest()[:20]


def _cached(name: str, key: str, make) -> list[Path]:
    """Files of a finished earlier run, or a fresh run in a temporary folder renamed when complete."""
    folder = CACHE / f"{name}-{key}"
    if not folder.is_dir():
        work = CACHE / f"{name}-{key}.partial"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        make(work)
        work.rename(folder)
    return sorted(folder.glob("*.dcm"))


def dicomize_with_orthanc_wsi(source: np.ndarray, *, compression: str = "jpeg", tile: int = 256,
                              levels: int | None = None, source_format: str = "png") -> list[Path]:
    """Run OrthancWSIDicomizer on the source with --compression jpeg|jpeg2000|none.

    source_format "png": it tiles and encodes the image itself. "tiff": a JPEG-tiled TIFF written by tifffile
    (it refuses uncompressed tiled TIFF), whose level-0 tiles it copies as they are with --compression jpeg.
    """
    def make(work: Path) -> None:
        if source_format == "tiff":
            image = work / "source.tif"
            tifffile.imwrite(image, source, tile=(tile, tile), photometric="rgb", compression="jpeg",
                             compressionargs={"level": 90})
        else:
            image = work / "source.png"
            Image.fromarray(source).save(image)
        count = levels or max(1, int(np.log2(max(source.shape[:2]) / tile)) + 1)
        subprocess.run([DICOMIZER, str(image), "--pyramid=1", f"--levels={count}", f"--compression={compression}",
                        f"--tile-width={tile}", f"--tile-height={tile}", f"--folder={work}"],
                       check=True, capture_output=True, timeout=TIMEOUT_S)
        image.unlink()

    # The PNG runs keep their original cache key.
    params = (compression, tile, levels) if source_format == "png" else (compression, tile, levels, source_format)
    name = f"orthanc-wsi-{compression}" + ("" if source_format == "png" else f"-{source_format}")
    return _cached(name, _key(source, *params), make)


def dicomize_with_wsidicomizer(source: np.ndarray, *, tile: int = 256, spacing_um: float = 0.5) -> list[Path]:
    """wsidicomizer on a pyramidal OME-TIFF with JPEG tiles (which it copies as they are)."""
    if not WSIDICOMIZER.exists():
        raise FileNotFoundError(f"{WSIDICOMIZER} is missing: run `bash scripts/setup.sh test`")

    def make(work: Path) -> None:
        tiff = work / "source.ome.tif"
        options = {"tile": (tile, tile), "photometric": "rgb", "compression": "jpeg",
                   "compressionargs": {"level": 92}}
        with tifffile.TiffWriter(tiff, ome=True) as writer:
            writer.write(source, subifds=2, metadata={"PhysicalSizeX": spacing_um, "PhysicalSizeY": spacing_um},
                         **options)
            for factor in (2, 4):
                writer.write(source[::factor, ::factor], subfiletype=1, **options)
        out = work / "out"
        subprocess.run([str(WSIDICOMIZER), "-i", str(tiff), "-o", str(out), "--no-label", "--no-overview"],
                       check=True, capture_output=True, timeout=TIMEOUT_S)
        for path in out.glob("*.dcm"):
            path.rename(work / path.name)
        out.rmdir()
        tiff.unlink()

    return _cached("wsidicomizer", _key(source, tile, spacing_um), make)


def write_with_highdicom(source: np.ndarray, *, tile: int = 256, downsamples: tuple[int, ...] = (1, 2, 4),
                         compression: str = "jpeg", spacing_mm: float = 0.0005) -> list[Path]:
    """A TILED_FULL pyramid built with highdicom's helpers (SOPClass, functional-group content, plane
    positions, tiling, frame encoding, its sRGB profile); compression "jpeg" (baseline) or "none".

    highdicom 0.28 has no VL Whole Slide class of its own, so the image module attributes are set here,
    but UIDs, per-frame positions, padding (black, as highdicom pads) and encoding are highdicom's.
    """
    def make(work: Path) -> None:
        study, series = hd_uid(), hd_uid()
        for index, factor in enumerate(downsamples):
            image = source if factor == 1 else np.asarray(Image.fromarray(source).resize(
                (-(-source.shape[1] // factor), -(-source.shape[0] // factor)), Image.Resampling.BOX))
            dataset = _highdicom_level(image, study, series, index, factor, tile, compression, spacing_mm)
            dataset.save_as(work / f"level{index}.dcm", enforce_file_format=True)

    return _cached(f"highdicom-{compression}", _key(source, tile, downsamples, compression, spacing_mm), make)


def hd_uid() -> str:
    import highdicom

    return str(highdicom.UID())


def _highdicom_level(image: np.ndarray, study: str, series: str, index: int, factor: int, tile: int,
                     compression: str, spacing_mm: float):
    import highdicom as hd
    from pydicom.encaps import encapsulate
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, VLWholeSlideMicroscopyImageStorage

    syntax = JPEGBaseline8Bit if compression == "jpeg" else ExplicitVRLittleEndian
    photometric = "YBR_FULL_422" if compression == "jpeg" else "RGB"
    ds = hd.SOPClass(study, series, 1, hd_uid(), VLWholeSlideMicroscopyImageStorage, index + 1, "SM",
                     manufacturer="highdicom", transfer_syntax_uid=syntax, patient_id="HD-1",
                     patient_name="Highdicom^Slide", study_id="1", accession_number="", series_description="highdicom")
    height, width = image.shape[:2]
    spacing = [spacing_mm * factor, spacing_mm * factor]
    orientation = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0]
    ds.ImageType = ["ORIGINAL" if factor == 1 else "DERIVED", "PRIMARY", "VOLUME",
                    "NONE" if factor == 1 else "RESAMPLED"]
    ds.DimensionOrganizationType = "TILED_FULL"
    ds.Rows = ds.Columns = tile
    ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns = height, width
    ds.TotalPixelMatrixFocalPlanes = ds.NumberOfOpticalPaths = 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, photometric, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.ImageOrientationSlide = orientation
    ds.ImagedVolumeWidth, ds.ImagedVolumeHeight, ds.ImagedVolumeDepth = width * spacing[1], height * spacing[0], 0.001
    ds.FrameOfReferenceUID, ds.ContainerIdentifier = series[:-1] + "9", "HD-SLIDE"
    ds.VolumetricProperties, ds.SpecimenLabelInImage, ds.BurnedInAnnotation = "VOLUME", "NO", "NO"
    ds.FocusMethod, ds.ExtendedDepthOfField, ds.AcquisitionDateTime = "AUTO", "NO", "20260101120000"
    ds.SpecimenDescriptionSequence = [hd.content.SpecimenDescription("S1", hd_uid())]
    origin = hd.utils.compute_plane_position_tiled_full(1, 1, 20.0, 40.0, tile, tile, orientation, spacing)[0]
    ds.TotalPixelMatrixOriginSequence = Sequence([_origin(origin)])
    shared = hd.content.PixelMeasuresSequence(spacing, 0.001)
    ds.SharedFunctionalGroupsSequence = Sequence([_item(PixelMeasuresSequence=shared)])
    ds.OpticalPathSequence = Sequence([_optical_path()])
    frames, groups = [], []
    for column, row in hd.utils.tile_pixel_matrix(height, width, tile, tile):  # one-based (column, row)
        block = hd.utils.get_tile_array(image, (row - 1) * tile + 1, (column - 1) * tile + 1, tile, tile)
        frames.append(hd.frame.encode_frame(block, syntax, 8, 8, photometric, 0, 0))
        position = hd.utils.compute_plane_position_tiled_full(row, column, 20.0, 40.0, tile, tile,
                                                              orientation, spacing)
        groups.append(_item(PlanePositionSlideSequence=position))
    ds.PerFrameFunctionalGroupsSequence = Sequence(groups)
    ds.NumberOfFrames = len(frames)
    ds.PixelData = encapsulate(frames) if compression == "jpeg" else b"".join(frames)
    ds["PixelData"].VR = "OB"
    return ds


def _item(**elements):
    from pydicom.dataset import Dataset

    item = Dataset()
    for keyword, value in elements.items():
        setattr(item, keyword, value)
    return item


def _origin(position):
    return _item(XOffsetInSlideCoordinateSystem=position.XOffsetInSlideCoordinateSystem,
                 YOffsetInSlideCoordinateSystem=position.YOffsetInSlideCoordinateSystem)


def _optical_path():
    from importlib import resources

    from pydicom.sequence import Sequence

    icc = resources.files("highdicom").joinpath("_icc_profiles/sRGB_v4_ICC_preference.icc").read_bytes()
    illumination = _item(CodeValue="111744", CodingSchemeDesignator="DCM", CodeMeaning="Brightfield illumination")
    colour = _item(CodeValue="414298005", CodingSchemeDesignator="SCT", CodeMeaning="Full Spectrum")
    return _item(OpticalPathIdentifier="1", OpticalPathDescription="Brightfield",
                 IlluminationTypeCodeSequence=Sequence([illumination]),
                 IlluminationColorCodeSequence=Sequence([colour]), ICCProfile=icc)
