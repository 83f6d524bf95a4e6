"""Annotations -> one Microscopy Bulk Simple Annotations instance (SOP 1.2.840.10008.5.1.4.1.1.91.1), by highdicom.

Annotations sharing graphic type, label and category form one Annotation Group (the standard groups by
graphic type and property; a label is the group's); each group carries its measurements (length, area,
perimeter in micrometres) as Measurement Values. Coordinates are 2D, in the total pixel matrix of the
slide's full-resolution image, which Referenced Image Sequence names.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from ..errors import BadRequest
from .categories import Category, find_by_label
from .measure import AREA, LENGTH, PERIMETER, UNITS, measurements
from .model import Annotation, AnnotationSet

ANN_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.91.1"
MANUFACTURER = "orthanc-wsi-py"
MODEL_NAME = "orthanc-wsi-py viewer"
SOFTWARE_VERSION = "1"
SERIES_DESCRIPTION = "Annotations (orthanc-wsi-py)"  # how we find our own series again
_UNSPECIFIED = Category("", ("91723000", "SCT", "Anatomical structure"), ("91723000", "SCT", "Anatomical structure"))
# SNOMED CT concepts of DCMR CID 7470 (length, perimeter) and CID 7472 (area).
_MEASURE_CODES = {LENGTH: ("410668003", "SCT", "Length"), AREA: ("42798000", "SCT", "Area"),
                  PERIMETER: ("131191004", "SCT", "Perimeter")}
_UNIT_MEANINGS = {"um": "micrometer", "um2": "square micrometer"}


@dataclass(frozen=True)
class Target:
    """Where the new instance goes: the source image, our series, and the instance's place in it."""

    source: Dataset  # the slide's full-resolution image, tags only
    series_uid: str
    series_number: int
    instance_number: int
    spacing_mm: tuple[float, float] | None


def _groups(annotations: list[Annotation], categories: tuple[Category, ...]
            ) -> list[tuple[str, Category, list[Annotation]]]:
    """(graphic type, label, category) -> annotations, in the order first drawn."""
    groups: dict[tuple[str, str, str], list[Annotation]] = {}
    for i, annotation in enumerate(annotations):
        if annotation.category and find_by_label(categories, annotation.category) is None:
            known = ", ".join(c.label for c in categories)
            raise BadRequest(f"annotations[{i}]: unknown category {annotation.category[:40]!r} (known: {known})",
                             "category")
        groups.setdefault((annotation.graphic_type, annotation.label, annotation.category), []).append(annotation)
    return [(kind, label, find_by_label(categories, category) or _UNSPECIFIED, members)
            for (kind, label, category), members in groups.items()]


def build_dataset(annotations: AnnotationSet, target: Target, categories: tuple[Category, ...]) -> Dataset:
    """The ANN dataset for `annotations` (already checked by model.check_set)."""
    from highdicom import UID
    from highdicom.ann import AnnotationGroup, MicroscopyBulkSimpleAnnotations
    from highdicom.sr import CodedConcept

    def coded(code: tuple[str, str, str]) -> CodedConcept:
        return CodedConcept(code[0], code[1], code[2])

    groups = []
    for number, (kind, label, category, members) in enumerate(_groups(annotations.annotations, categories), 1):
        graphic_data = [np.array(a.points, dtype=np.float32) for a in members]
        groups.append(AnnotationGroup(
            number=number, uid=UID(), label=label or category.label or "Annotation",
            annotated_property_category=coded(category.category), annotated_property_type=coded(category.type),
            graphic_type=kind, graphic_data=graphic_data, algorithm_type="MANUAL",
            measurements=_measurements(members, target.spacing_mm) or None))
    source = target.source
    ann = MicroscopyBulkSimpleAnnotations(
        source_images=[source], annotation_coordinate_type="2D", annotation_groups=groups,
        series_instance_uid=target.series_uid, series_number=target.series_number, sop_instance_uid=UID(),
        instance_number=target.instance_number, manufacturer=MANUFACTURER, manufacturer_model_name=MODEL_NAME,
        software_versions=SOFTWARE_VERSION, device_serial_number="1",
        content_description=annotations.description or None, content_creator_name=annotations.creator or None,
        content_label="ANNOTATIONS", series_description=SERIES_DESCRIPTION)
    frame_of_reference = source.get("FrameOfReferenceUID")
    if frame_of_reference:
        # highdicom links 2D annotations by image only; the slide's frame of reference ties them to it too.
        ann.FrameOfReferenceUID = frame_of_reference
        ann.PositionReferenceIndicator = source.get("PositionReferenceIndicator", "")
    return ann


def _measurements(members: list[Annotation], spacing_mm: tuple[float, float] | None) -> list:
    from highdicom.ann import Measurements
    from highdicom.sr import CodedConcept

    values = [measurements(a, spacing_mm) for a in members]
    names = list(values[0]) if values else []
    out = []
    for name in names:
        code, unit = _MEASURE_CODES[name], UNITS[name]
        out.append(Measurements(name=CodedConcept(*code), values=np.array([v[name] for v in values], np.float32),
                                unit=CodedConcept(unit, "UCUM", _UNIT_MEANINGS[unit])))
    return out


def encode(dataset: Dataset) -> bytes:
    """The dataset as a DICOM file (preamble, file meta), as Orthanc stores it."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
