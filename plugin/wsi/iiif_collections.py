"""IIIF Presentation API 3.0 Collections of the archive, as dict builders (pure).

The whole Orthanc is one Collection of patients; a patient is a Collection of studies; a study is a
Collection of its series' manifests. Presentation 3.0 has no paging for Collections, so a large archive's
top Collection holds page Collections (nested Collections are the standard's way), each of a few patients.
"""

from __future__ import annotations

from dataclasses import dataclass

from .manifest import PRESENTATION_CONTEXT, ImageService, image_thumbnail, language_map, series_label


@dataclass(frozen=True)
class Ref:
    """A child as its parent lists it: a Collection or a Manifest, with a label and maybe a thumbnail."""

    id: str
    type: str  # "Collection" or "Manifest"
    label: str
    thumbnail: ImageService | None = None  # the image service a thumbnail is taken from
    summary: str = ""


@dataclass(frozen=True)
class Links:
    """Where a Collection lives and what it points at besides its items."""

    id: str
    homepage: str = ""  # the resource in Orthanc Explorer
    see_also: str = ""  # the resource in Orthanc's REST API
    part_of: str = ""  # the parent Collection


def ref(item: Ref) -> dict:
    found: dict = {"id": item.id, "type": item.type, "label": language_map(item.label, "en")}
    if item.summary:
        found["summary"] = language_map(item.summary, "en")
    if item.thumbnail:
        found["thumbnail"] = [image_thumbnail(item.thumbnail)]
    return found


def collection(links: Links, label: str, summary: str, items: list[Ref], metadata: list[tuple[str, str]],
               thumbnail_of: ImageService | None = None) -> dict:
    found: dict = {"@context": PRESENTATION_CONTEXT, "id": links.id, "type": "Collection",
                   "label": language_map(label, "en"), "summary": language_map(summary, "en")}
    shown = [(name, value) for name, value in metadata if value.strip()]
    if shown:
        found["metadata"] = [{"label": language_map(name, "en"), "value": language_map(value)}
                             for name, value in shown]
    if thumbnail_of:
        found["thumbnail"] = [image_thumbnail(thumbnail_of)]
    if links.homepage:
        found["homepage"] = [{"id": links.homepage, "type": "Text", "format": "text/html",
                              "label": language_map("In Orthanc Explorer", "en")}]
    if links.see_also:
        found["seeAlso"] = [{"id": links.see_also, "type": "Dataset", "format": "application/json",
                             "label": language_map("Orthanc REST resource", "en")}]
    if links.part_of:
        found["partOf"] = [{"id": links.part_of, "type": "Collection"}]
    found["items"] = [ref(item) for item in items]
    return found


def pages(total: int, size: int) -> list[tuple[int, int]]:
    """(first, count) of each page of `size` items; one (0, 0) page when there is nothing."""
    if total <= 0:
        return [(0, 0)]
    return [(first, min(size, total - first)) for first in range(0, total, size)]


def patient_label(tags: dict[str, str]) -> str:
    name = " ".join(tags.get("PatientName", "").replace("^", " ").split())
    patient_id = tags.get("PatientID", "").strip()
    if name and patient_id:
        return f"{name} ({patient_id})"
    return name or (f"Patient {patient_id}" if patient_id else "Unnamed patient")


def study_label(tags: dict[str, str]) -> str:
    parts = [tags.get(key, "").strip() for key in ("StudyDate", "StudyDescription")]
    shown = " - ".join(part for part in parts if part)
    return shown or f"Study {tags.get('StudyInstanceUID', '').strip()}".strip()


def series_item_label(tags: dict[str, str]) -> str:
    """The label the series' manifest carries, or its number and modality when those tags are empty."""
    label = series_label(tags)
    if label.replace(" - ", "").strip():
        return label
    return f"Series {tags.get('SeriesNumber', '').strip()} {tags.get('Modality', '').strip()}".strip()
