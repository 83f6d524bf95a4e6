"""Orthanc's `/instances/{id}/tags` JSON -> a pydicom Dataset of the attributes highdicom copies (pure).

Only what an annotation object takes from its source image is converted: patient, study, specimen, frame
of reference and slide geometry. Values keep Orthanc's text form except for binary numbers, which pydicom
wants as numbers.
"""

from __future__ import annotations

from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset

_BINARY_INT = {"US", "UL", "SS", "SL", "UV", "SV"}
_BINARY_FLOAT = {"FL", "FD"}
_SKIPPED_VR = {"OB", "OW", "OF", "OD", "OL", "OV", "UN", "AT"}
# Top-level attributes copied (sequences with everything they hold).
SOURCE_KEYWORDS = frozenset({
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "SpecificCharacterSet",
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "IssuerOfPatientID", "OtherPatientIDsSequence",
    "PatientAge", "PatientWeight", "PatientSize",
    "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName", "StudyDescription",
    "IssuerOfAccessionNumberSequence",
    "ContainerIdentifier", "IssuerOfTheContainerIdentifierSequence", "AlternateContainerIdentifierSequence",
    "ContainerTypeCodeSequence", "ContainerDescription", "ContainerComponentSequence",
    "SpecimenDescriptionSequence",
    "FrameOfReferenceUID", "PositionReferenceIndicator",
    "ImageOrientationSlide", "TotalPixelMatrixOriginSequence", "TotalPixelMatrixColumns", "TotalPixelMatrixRows",
    "SharedFunctionalGroupsSequence", "Rows", "Columns", "NumberOfFrames", "ImageType",
    "Manufacturer", "ManufacturerModelName", "SoftwareVersions", "DeviceSerialNumber", "InstitutionName",
})


def _tag(key: str) -> int | None:
    try:
        group, element = key.split(",")
        return (int(group, 16) << 16) | int(element, 16)
    except ValueError:
        return None


def _value(vr: str, entry: dict) -> Any:
    kind, value = entry.get("Type"), entry.get("Value")
    if kind == "Sequence":
        return [dataset_from_tags(item, top_level=False) for item in value or []]
    if kind != "String" or value is None:
        return None
    if vr in _BINARY_INT:
        numbers = [int(v) for v in value.split("\\") if v.strip()]
        return numbers[0] if len(numbers) == 1 else numbers
    if vr in _BINARY_FLOAT:
        numbers = [float(v) for v in value.split("\\") if v.strip()]
        return numbers[0] if len(numbers) == 1 else numbers
    return value.split("\\") if "\\" in value and vr not in ("LT", "ST", "UT") else value


def dataset_from_tags(tags: dict, top_level: bool = True) -> Dataset:
    ds = Dataset()
    for key, entry in tags.items():
        tag = _tag(key)
        if tag is None or tag >> 16 & 1 or not isinstance(entry, dict):  # private groups are odd
            continue
        keyword = keyword_for_tag(tag)
        if not keyword or (top_level and keyword not in SOURCE_KEYWORDS):
            continue
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            continue
        if vr in _SKIPPED_VR or " or " in vr:
            continue
        try:
            value = _value(vr, entry)
        except ValueError:
            continue  # a malformed number in a source attribute is left out, not fatal
        if value is not None or entry.get("Type") == "Null":
            ds.add_new(tag, vr, value if value is not None else None)
    return ds
