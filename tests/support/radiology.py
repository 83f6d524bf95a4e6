"""Small radiology instances for tests: a CT-like 12-bit grey image (rescaled, windowed) or an RGB secondary
capture, one or several frames, written with pydicom."""

from __future__ import annotations

import io

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid


def dicom_image(pixels: np.ndarray, *, series: str, study: str, number: int, frames: int = 1,
                modality: str = "CT") -> bytes:
    """A CT-like (12-bit, rescaled, windowed) or RGB secondary capture instance, with pydicom."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    rgb = pixels.ndim - (frames > 1) == 3
    ds.SOPClassUID = SecondaryCaptureImageStorage if rgb else CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = study, series, number
    ds.PatientID, ds.PatientName, ds.StudyDate = "IIIF-TEST", "Iiif^Test", "20240102"
    ds.Modality, ds.StudyDescription, ds.SeriesDescription = modality, "IIIF study", "IIIF frames"
    shape = pixels.shape[1:] if frames > 1 else pixels.shape
    ds.Rows, ds.Columns = shape[0], shape[1]
    if frames > 1:
        ds.NumberOfFrames = frames
    if rgb:
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    else:
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def radiograph(pixels: np.ndarray, *, series: str, study: str, number: int = 1, modality: str = "DX",
               photometric: str = "MONOCHROME2", bits_stored: int = 16, slope: float = 1.0, intercept: float = 0.0,
               windows: tuple[tuple[float, float, str], ...] = (),
               voi_lut: tuple[int, int, np.ndarray] | None = None) -> bytes:
    """A large grey radiograph (one frame, or several when `pixels` is 3-D) or an RGB photograph (HxWx3 uint8).

    Grey: unsigned, `bits_stored` of 16 allocated, Rescale Slope/Intercept, windows as (center, width,
    explanation), a VOI LUT Sequence as (first mapped value, bits, table). All in explicit little endian.
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    rgb = pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    frames = 1 if rgb or pixels.ndim == 2 else pixels.shape[0]
    ds.SOPClassUID = SecondaryCaptureImageStorage if rgb else "1.2.840.10008.5.1.4.1.1.1.1"  # DX for presentation
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = study, series, number
    ds.PatientID, ds.PatientName, ds.StudyDate = "FRAMES-TEST", "Frames^Test", "20240102"
    ds.Modality, ds.StudyDescription, ds.SeriesDescription = modality, "Frames study", f"{modality} frames"
    height, width = pixels.shape[-3:-1] if rgb else pixels.shape[-2:]
    ds.Rows, ds.Columns = height, width
    if frames > 1:
        ds.NumberOfFrames = frames
    if rgb:
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    else:
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, 0
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = slope, intercept, "US"
        if windows:
            ds.WindowCenter = [c for c, _, _ in windows]
            ds.WindowWidth = [w for _, w, _ in windows]
            ds.WindowCenterWidthExplanation = [e for _, _, e in windows]
        if voi_lut is not None:
            first, bits, table = voi_lut
            item = Dataset()
            item.LUTDescriptor = [len(table) % 65536, first, bits]
            item.add_new(0x00283006, "US", [int(v) for v in table])
            ds.VOILUTSequence = [item]
    ds.PixelData = np.ascontiguousarray(pixels.astype(np.uint8 if rgb else np.uint16)).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
