"""The DICOM attributes of the instances written: series-wide ones (patient, study, equipment, specimen,
optical path), per level (image type, matrix, spacing, functional groups) and user overrides."""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from ..errors import BadRequest

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
SOFTWARE = "orthanc-wsi-py dicomizer"
# Tags the writer decides from the pixels: a dataset given by the caller cannot change them.
STRUCTURAL = {"SOPClassUID", "SOPInstanceUID", "Rows", "Columns", "NumberOfFrames", "PixelData", "SamplesPerPixel",
              "PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
              "PlanarConfiguration", "TotalPixelMatrixColumns", "TotalPixelMatrixRows", "ImageType",
              "DimensionOrganizationType", "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence",
              "ConcatenationUID", "ConcatenationFrameOffsetNumber", "InConcatenationNumber",
              "InConcatenationTotalNumber", "SOPInstanceUIDOfConcatenationSource", "SeriesInstanceUID",
              "FrameOfReferenceUID", "LossyImageCompression", "LossyImageCompressionRatio",
              "LossyImageCompressionMethod", "DimensionOrganizationSequence", "DimensionIndexSequence",
              "TotalPixelMatrixFocalPlanes", "NumberOfOpticalPaths", "TransferSyntaxUID"}

# What GET /wsi/dicomize/sample-dataset answers: the tags a caller usually sets, with our placeholders.
SAMPLE = {
    "PatientName": "Anonymous^Slide", "PatientID": "", "PatientBirthDate": "", "PatientSex": "",
    "StudyInstanceUID": "", "StudyID": "1", "StudyDate": "", "StudyTime": "", "StudyDescription": "",
    "AccessionNumber": "", "ReferringPhysicianName": "", "SeriesDescription": "", "SeriesNumber": 1,
    "Manufacturer": "", "ManufacturerModelName": "", "DeviceSerialNumber": "", "ContainerIdentifier": "",
    "SpecimenDescriptionSequence": [{"SpecimenIdentifier": "", "SpecimenShortDescription": ""}],
    "OpticalPathSequence": [{"OpticalPathDescription": "Brightfield"}],
}


@dataclass(frozen=True)
class SeriesFacts:
    study_uid: str
    series_uid: str
    frame_uid: str
    now: datetime.datetime


def new_series(study_uid: str | None = None) -> SeriesFacts:
    return SeriesFacts(study_uid or generate_uid(), generate_uid(), generate_uid(), datetime.datetime.now())


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def series_dataset(facts: SeriesFacts, icc: bytes | None, objective_power: float | None) -> Dataset:
    """Patient, study, series, equipment, specimen and optical path: the same in every instance."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = WSI_SOP_CLASS
    ds.Modality = "SM"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = facts.study_uid, facts.series_uid
    ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = facts.frame_uid, "SLIDE_CORNER"
    placeholder = "SLIDE-" + hashlib.sha256(facts.series_uid.encode()).hexdigest()[:10].upper()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Anonymous^Slide", placeholder, "", ""
    date, time = facts.now.strftime("%Y%m%d"), facts.now.strftime("%H%M%S")
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = date, time, "1", "", ""
    ds.SeriesNumber, ds.SeriesDate, ds.SeriesTime = 1, date, time
    ds.ContentDate, ds.ContentTime, ds.AcquisitionDateTime = date, time, date + time
    ds.Manufacturer, ds.ManufacturerModelName = "orthanc-wsi-py", SOFTWARE
    ds.DeviceSerialNumber, ds.SoftwareVersions = "1", SOFTWARE
    ds.ContainerIdentifier = placeholder
    ds.IssuerOfTheContainerIdentifierSequence = Sequence()
    ds.ContainerTypeCodeSequence = Sequence([_code("433466003", "SCT", "Microscope slide")])
    specimen = Dataset()
    specimen.SpecimenIdentifier, specimen.SpecimenUID = placeholder, generate_uid()
    specimen.IssuerOfTheSpecimenIdentifierSequence = Sequence()
    specimen.SpecimenPreparationSequence = Sequence()
    ds.SpecimenDescriptionSequence = Sequence([specimen])
    ds.AcquisitionContextSequence = Sequence()
    ds.VolumetricProperties, ds.FocusMethod, ds.ExtendedDepthOfField = "VOLUME", "AUTO", "NO"
    ds.BurnedInAnnotation, ds.SpecimenLabelInImage = "NO", "NO"
    ds.ImageOrientationSlide = [0, -1, 0, -1, 0, 0]
    path = Dataset()
    path.OpticalPathIdentifier, path.OpticalPathDescription = "1", "Brightfield"
    path.IlluminationTypeCodeSequence = Sequence([_code("111744", "DCM", "Brightfield illumination")])
    path.IlluminationColorCodeSequence = Sequence([_code("414298005", "SCT", "Full Spectrum")])
    if icc:
        path.ICCProfile = icc
        path.ColorSpace = "SRGB" if b"sRGB" in icc[:400] else None
        if path.ColorSpace is None:
            del path.ColorSpace
    if objective_power:
        path.ObjectiveLensPower = objective_power
    ds.OpticalPathSequence = Sequence([path])
    ds.NumberOfOpticalPaths = 1
    return ds


def apply_overrides(ds: Dataset, overrides: dict) -> None:
    """Set tags given by keyword (or "ggggeeee" hex) and JSON value; a sequence is a list of objects."""
    for name, value in overrides.items():
        keyword = _keyword(str(name))
        if keyword in STRUCTURAL:
            raise BadRequest(f"{keyword} is set by the DICOM-izer from the image and cannot be given", "dataset")
        try:
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                current = ds.get(keyword)
                items = []
                for index, entry in enumerate(value):
                    item = current[index] if current is not None and index < len(current) else Dataset()
                    apply_overrides(item, entry)
                    items.append(item)
                setattr(ds, keyword, Sequence(items))
            elif value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, _value(keyword, value))
        except (TypeError, ValueError, OverflowError) as error:
            raise BadRequest(f"{keyword}: {str(error)[:120]}", "dataset") from None


def _keyword(name: str) -> str:
    from pydicom.datadict import keyword_for_tag

    hexa = name.replace(",", "").replace("(", "").replace(")", "")
    if len(hexa) == 8 and all(c in "0123456789abcdefABCDEF" for c in hexa):
        keyword = keyword_for_tag(int(hexa, 16))
        if keyword:
            return keyword
    if tag_for_keyword(name) is None:
        raise BadRequest(f"{name[:60]!r} is not a DICOM keyword", "dataset")
    return name


def _value(keyword: str, value):
    vr = dictionary_VR(keyword)
    if vr == "SQ":
        raise ValueError("a sequence is given as a list of objects")
    if isinstance(value, (dict, bool)):
        raise ValueError("not a DICOM value")
    if vr in ("US", "SS", "UL", "SL", "IS") and not isinstance(value, list):
        return int(value)
    if vr in ("FL", "FD", "DS") and not isinstance(value, list):
        return float(value)
    if isinstance(value, list):
        return [v if isinstance(v, (int, float)) else str(v) for v in value]
    text = str(value)
    if len(text) > 1024:
        raise ValueError("value over 1024 characters")
    return text


def check_overrides(overrides: dict) -> None:
    """Refuse a bad dataset before any work starts (applied to a scratch dataset)."""
    apply_overrides(Dataset(), overrides)
