"""What the annotation routes ask Orthanc: the slide, the annotation objects of its study, a new instance.

Everything from a URL is an Orthanc id checked before it reaches a REST path; a new object is built and
encoded whole before the one POST that stores it, so a refused save writes nothing.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from ..errors import BadRequest, NotFound, UpstreamError
from ..series_repository import SeriesRepository, check_id
from .categories import Category
from .dicom_in import ANN_SOP_CLASS, SR_SOP_CLASSES, Summary, read_object, references, slide_to_image, summarize
from .dicom_out import MANUFACTURER, Target, build_dataset, encode
from .model import Annotation, AnnotationSet, Limits, check_set
from .tags import dataset_from_tags

log = logging.getLogger(__name__)

_MODALITIES = ("ANN", "SR")
_TYPE_2_FROM_SOURCE = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID",
                       "StudyDate", "StudyTime", "ReferringPhysicianName", "FrameOfReferenceUID")
_SERIES_NUMBER = 9900  # our annotation series sorts after the slide's own series in viewers


class AnnotationBackend(Protocol):
    def get_bytes(self, uri: str) -> bytes: ...
    def get_json(self, uri: str) -> Any: ...
    def store_instance(self, dicom: bytes) -> dict: ...


@dataclass
class Slide:
    series_id: str
    study_id: str
    series_uid: str
    sop_uids: frozenset[str]
    base_instance: str  # the full-resolution level's instance: the coordinate system of 2D annotations
    width: int
    height: int
    spacing_mm: tuple[float, float] | None


@dataclass
class StoredObject:
    instance_id: str
    series_uid: str
    instance_number: int
    dataset: Dataset


class AnnotationStore:
    def __init__(self, orthanc: AnnotationBackend, series: SeriesRepository, categories: tuple[Category, ...],
                 limits: Limits, max_object_bytes: int) -> None:
        self._orthanc = orthanc
        self._series = series
        self.categories = categories
        self.limits = limits
        self.max_object_bytes = max_object_bytes

    # ---- the slide ------------------------------------------------------------------------------
    def slide(self, series_id: str) -> Slide:
        series_id = check_id(series_id, "series id")
        model = self._series.wsi_model(series_id)  # NotFound unless a whole slide
        base = model.levels[0]
        frames = base.frames
        instance = frames.blocks[0].instance_id if frames.blocks else next(iter(frames.sparse.values()))[0]
        info = self._orthanc.get_json(f"/series/{series_id}")
        instances = self._orthanc.get_json(f"/series/{series_id}/instances")
        sop_uids = frozenset(str(i.get("MainDicomTags", {}).get("SOPInstanceUID", "")) for i in instances)
        level = base.level
        return Slide(series_id, info["ParentStudy"], info["MainDicomTags"].get("SeriesInstanceUID", ""), sop_uids,
                     instance, level.width, level.height, level.pixel_spacing_mm)

    def source_image(self, slide: Slide) -> Dataset:
        source = dataset_from_tags(self._orthanc.get_json(f"/instances/{slide.base_instance}/tags"))
        # Type 2 in the annotation object (present, maybe empty), which highdicom reads unconditionally;
        # OrthancWSIDicomizer 1.1 writes none of them (nor a frame of reference, then not linked).
        for keyword in _TYPE_2_FROM_SOURCE:
            if keyword not in source:
                setattr(source, keyword, None)
        return source

    # ---- reading ----------------------------------------------------------------------------------
    def _candidates(self, slide: Slide) -> list[tuple[dict, dict]]:
        """(series, instance) of every ANN or SR instance in the slide's study."""
        found = []
        for series in self._orthanc.get_json(f"/studies/{slide.study_id}/series"):
            if series.get("MainDicomTags", {}).get("Modality") not in _MODALITIES:
                continue
            for instance in self._orthanc.get_json(f"/series/{series['ID']}/instances"):
                found.append((series, instance))
        return found

    def _read(self, series: dict, instance: dict) -> StoredObject | None:
        if int(instance.get("FileSize", 0) or 0) > self.max_object_bytes:
            log.info("annotation object %s skipped: larger than AnnotationMaxObjectMB", instance["ID"])
            return None
        data = self._orthanc.get_bytes(f"/instances/{instance['ID']}/file")
        try:
            ds = dcmread(io.BytesIO(data))
        except Exception as error:  # a broken file is left out of the list, not an error of the list
            log.info("annotation object %s unreadable: %s", instance["ID"], error)
            return None
        if str(ds.get("SOPClassUID", "")) not in (ANN_SOP_CLASS, *SR_SOP_CLASSES):
            return None
        number = instance.get("MainDicomTags", {}).get("InstanceNumber", "0")
        return StoredObject(instance["ID"], series.get("MainDicomTags", {}).get("SeriesInstanceUID", ""),
                            int(number) if str(number).isdigit() else 0, ds)

    def objects(self, slide: Slide) -> list[StoredObject]:
        """The annotation objects of the slide's study that refer to this slide (series, image or frame of
        reference), oldest first."""
        out = []
        frame_of_reference = None
        for series, instance in self._candidates(slide):
            found = self._read(series, instance)
            if found is None:
                continue
            series_uids, image_uids = references(found.dataset)
            if slide.series_uid in series_uids or image_uids & slide.sop_uids:
                out.append(found)
                continue
            if frame_of_reference is None:
                frame_of_reference = str(self.source_image(slide).get("FrameOfReferenceUID", "") or "")
            if frame_of_reference and str(found.dataset.get("FrameOfReferenceUID", "")) == frame_of_reference:
                out.append(found)
        return sorted(out, key=lambda o: (_sort_date(o.dataset), o.instance_number))

    def read(self, slide: Slide, found: StoredObject) -> tuple[Summary, list[Annotation]]:
        to_image = None
        if _is_3d(found.dataset):
            to_image = slide_to_image(self.source_image(slide))
        try:
            summary, annotations = read_object(found.dataset, self.categories, to_image)
        except Exception as error:
            log.info("annotation object %s not understood: %s", found.instance_id, error)
            raise UpstreamError(f"annotation object {found.instance_id} could not be read") from None
        summary.ours = found.dataset.get("Manufacturer") == MANUFACTURER
        return summary, annotations

    def summary(self, found: StoredObject) -> Summary:
        summary = summarize(found.dataset, self.categories)
        summary.ours = found.dataset.get("Manufacturer") == MANUFACTURER
        return summary

    def find(self, slide: Slide, instance_id: str) -> StoredObject:
        instance_id = check_id(instance_id, "instance id")
        for found in self.objects(slide):
            if found.instance_id == instance_id:
                return found
        raise NotFound(f"instance {instance_id} is not an annotation object of series {slide.series_id}")

    # ---- writing ----------------------------------------------------------------------------------
    def store(self, slide: Slide, annotations: AnnotationSet) -> tuple[str, Dataset]:
        check_set(annotations, slide.width, slide.height, self.limits)
        series_uid = generate_uid(entropy_srcs=[slide.series_uid, "orthanc-wsi-py annotations"])
        existing = [i for s, i in self._candidates(slide)
                    if s.get("MainDicomTags", {}).get("SeriesInstanceUID") == series_uid]
        numbers = [int(n) for i in existing if str(n := i.get("MainDicomTags", {}).get("InstanceNumber", "")).isdigit()]
        target = Target(self.source_image(slide), series_uid, _SERIES_NUMBER, max(numbers, default=0) + 1,
                        slide.spacing_mm)
        try:
            dataset = build_dataset(annotations, target, self.categories)
        except (ValueError, TypeError) as error:  # highdicom refused what our checks let through
            raise BadRequest(f"annotations cannot be stored: {str(error)[:200]}", "annotations") from None
        answer = self._orthanc.store_instance(encode(dataset))
        if not isinstance(answer, dict) or "ID" not in answer:
            raise UpstreamError("Orthanc did not store the annotation object")
        return answer["ID"], dataset


def _is_3d(ds: Dataset) -> bool:
    if str(ds.get("SOPClassUID", "")) == ANN_SOP_CLASS:
        return str(ds.get("AnnotationCoordinateType", "")) == "3D"
    return True  # SRs: Slim writes SCOORD3D; 2D regions need no mapping and ignore it


def _sort_date(ds: Dataset) -> str:
    return f"{ds.get('ContentDate', '') or ''}{ds.get('ContentTime', '') or ''}"

