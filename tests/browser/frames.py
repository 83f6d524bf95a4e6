"""Frames for the deep-zoom viewer tests: a large 16-bit grey radiograph (rescale, two file windows), an RGB
photograph, a multi-frame CT-like series and an instance without pixels, written with pydicom; plus the
display rule the screen is checked against (DICOM PS3.3 C.11.2.1.2, LINEAR window).

The pictures have blobs tens of pixels wide, so they differ everywhere at the scale of a tile, plus a fine
grain (periods of about 20 px), so a picture shifted or scaled by a few pixels loses many decibels while the
canvas drawer's sub-pixel seam stretch costs little.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    BasicTextSRStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    VLPhotographicImageStorage,
    generate_uid,
)

from tests.support.radiology import dicom_image

GREY_SIZE = (3000, 4000)  # width, height: a radiograph
RGB_SIZE = (3000, 2000)  # a photograph
GREY_SLOPE, GREY_INTERCEPT = 0.5, -1000.0
GREY_WINDOWS = (("FULL", 14000.0, 30000.0), ("NARROW", 6000.0, 4000.0))
CT_FRAMES = 4
CT_SIZE = 1000  # larger than the viewer's 760 px height, so zoom 1 is allowed


@dataclass
class Frames:
    grey_instance: str
    grey_values: np.ndarray  # modality values (after rescale), float64, height x width
    rgb_instance: str
    rgb_pixels: np.ndarray  # height x width x 3, uint8
    ct_series: str
    ct_instance: str
    ct_values: np.ndarray  # CT_FRAMES x height x width, Hounsfield units
    no_pixels_instance: str


def smooth_field(width: int, height: int, seed: int) -> np.ndarray:
    """Values in [0, 1]: gradients plus blobs 20-80 px wide, different in every 512 px tile."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    field = 0.35 * x / width + 0.25 * y / height
    for _ in range(60):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius, weight = rng.uniform(20, 80), rng.uniform(-0.3, 0.3)
        x0, x1 = int(max(0, cx - 4 * radius)), int(min(width, cx + 4 * radius))
        y0, y1 = int(max(0, cy - 4 * radius)), int(min(height, cy + 4 * radius))
        bx, by = x[y0:y1, x0:x1], y[y0:y1, x0:x1]
        field[y0:y1, x0:x1] += weight * np.exp(-((bx - cx) ** 2 + (by - cy) ** 2) / (2 * radius**2))
    field += 0.15 * np.sin(x / 37.0) * np.cos(y / 53.0)
    field += 0.06 * np.sin(x / 3.0) * np.sin(y / 4.0)  # fine grain: a shift of a few pixels shows
    lo, hi = field.min(), field.max()
    return ((field - lo) / (hi - lo)).astype(np.float64)


def linear_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM LINEAR VOI: modality values to 0..255 (float; the server rounds)."""
    out = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.clip(out, 0, 255)


def _base(sop_class: str, modality: str, description: str, study: str | None = None) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study or generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.StudyDate = "DEEP-ZOOM", "Deep^Zoom", "20261203"
    ds.Modality, ds.SeriesDescription, ds.InstanceNumber = modality, description, 1
    return ds


def _bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def grey_radiograph() -> tuple[bytes, np.ndarray]:
    """16-bit unsigned stored values, rescaled to about -1000..29000, with two windows and explanations."""
    width, height = GREY_SIZE
    stored = np.round(smooth_field(width, height, seed=3) * 60000).astype(np.uint16)
    ds = _base(DigitalXRayImageStorageForPresentation, "DX", "Synthetic radiograph 16-bit")
    ds.Rows, ds.Columns = height, width
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = GREY_SLOPE, GREY_INTERCEPT, "US"
    ds.WindowCenter = [w[1] for w in GREY_WINDOWS]
    ds.WindowWidth = [w[2] for w in GREY_WINDOWS]
    ds.WindowCenterWidthExplanation = [w[0] for w in GREY_WINDOWS]
    ds.PixelData = stored.tobytes()
    return _bytes(ds), stored.astype(np.float64) * GREY_SLOPE + GREY_INTERCEPT


def rgb_photograph() -> tuple[bytes, np.ndarray]:
    width, height = RGB_SIZE
    channels = [smooth_field(width, height, seed=s) for s in (11, 12, 13)]
    pixels = np.round(np.stack(channels, axis=-1) * 255).astype(np.uint8)
    ds = _base(VLPhotographicImageStorage, "XC", "Synthetic photograph")
    ds.Rows, ds.Columns = height, width
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = pixels.tobytes()
    return _bytes(ds), pixels


def ct_frames() -> tuple[bytes, np.ndarray]:
    """A 4-frame CT-like instance (window 40/400, intercept -1024): frame k is 80 HU brighter than k - 1."""
    texture = smooth_field(CT_SIZE, CT_SIZE, seed=5)
    hu = np.stack([-200 + 80 * k + 250 * texture for k in range(CT_FRAMES)])
    stored = np.round(hu + 1024).astype(np.uint16)
    data = dicom_image(stored, series=generate_uid(), study=generate_uid(), number=1, frames=CT_FRAMES)
    return data, stored.astype(np.float64) - 1024


def no_pixels() -> bytes:
    ds = _base(BasicTextSRStorage, "SR", "A report")
    ds.ValueType, ds.ContentDate = "CONTAINER", "20261203"
    return _bytes(ds)
