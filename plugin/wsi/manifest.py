"""IIIF Presentation API 3.0 manifests of a series, as dict builders (pure).

A whole-slide series is one canvas painted by one image service; any other series is one canvas per
frame (in Orthanc's ordered-slices order), each sized by its own frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from .iiif_info import PROFILE
from .iiif_render import Limits

PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
JSONLD_MEDIA_TYPE = f'application/ld+json;profile="{PRESENTATION_CONTEXT}"'
THUMBNAIL_BOX = 256  # pixels, the longer side of a manifest thumbnail

# (metadata label, key in SlideService.series_tags), shown when present.
METADATA_FIELDS = (
    ("Patient name", "PatientName"),
    ("Patient ID", "PatientID"),
    ("Study date", "StudyDate"),
    ("Study description", "StudyDescription"),
    ("Accession number", "AccessionNumber"),
    ("Study instance UID", "StudyInstanceUID"),
    ("Modality", "Modality"),
    ("Series number", "SeriesNumber"),
    ("Series description", "SeriesDescription"),
    ("Series instance UID", "SeriesInstanceUID"),
    ("Manufacturer", "Manufacturer"),
)


@dataclass(frozen=True)
class ImageService:
    """One IIIF image service as a manifest sees it."""

    id: str  # base URI, no trailing slash
    width: int
    height: int


@dataclass(frozen=True)
class SeriesLinks:
    manifest_id: str
    orthanc_series_url: str  # REST resource of the series
    explorer_url: str  # the series in Orthanc Explorer


def series_label(tags: dict[str, str]) -> str:
    """"StudyDate - Modality - StudyDescription - SeriesDescription", as the C++ plugin labels series."""
    return " - ".join(tags.get(key, "") for key in ("StudyDate", "Modality", "StudyDescription",
                                                    "SeriesDescription"))


def language_map(value: str, language: str = "none") -> dict:
    return {language: [value]}


def _metadata(tags: dict[str, str]) -> list[dict]:
    return [{"label": language_map(label, "en"), "value": language_map(tags[key])}
            for label, key in METADATA_FIELDS if tags.get(key, "").strip()]


def _service_ref(service: ImageService) -> list[dict]:
    return [{"id": service.id, "type": "ImageService3", "profile": PROFILE}]


def fit_box(width: int, height: int, box: int) -> tuple[int, int]:
    """Size of an image scaled (down only) to fit a box x box square, aspect kept."""
    scale = min(1.0, box / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def image_thumbnail(service: ImageService) -> dict:
    """A small rendition from the image service itself (canonical w,h size form)."""
    w, h = fit_box(service.width, service.height, THUMBNAIL_BOX)
    return {"id": f"{service.id}/full/{w},{h}/0/default.jpg", "type": "Image", "format": "image/jpeg",
            "width": w, "height": h, "service": _service_ref(service)}


def _canvas(links: SeriesLinks, index: int, service: ImageService, limits: Limits,
            label: str | None = None) -> dict:
    canvas_id = f"{links.manifest_id.removesuffix('/manifest.json')}/canvas/{index}"
    max_w, max_h = limits.fit(service.width, service.height)
    body = {"id": f"{service.id}/full/max/0/default.jpg", "type": "Image", "format": "image/jpeg",
            "width": max_w, "height": max_h, "service": _service_ref(service)}
    canvas: dict = {"id": canvas_id, "type": "Canvas"}
    if label:
        canvas["label"] = language_map(label)
    canvas.update({
        "width": service.width,
        "height": service.height,
        "items": [{
            "id": f"{canvas_id}/page",
            "type": "AnnotationPage",
            "items": [{"id": f"{canvas_id}/page/painting", "type": "Annotation", "motivation": "painting",
                       "body": body, "target": canvas_id}],
        }],
    })
    return canvas


def _manifest(links: SeriesLinks, tags: dict[str, str], summary: str, thumbnail: dict,
              canvases: list[dict]) -> dict:
    return {
        "@context": PRESENTATION_CONTEXT,
        "id": links.manifest_id,
        "type": "Manifest",
        "label": language_map(series_label(tags), "en"),  # as the C++ plugin
        "summary": language_map(summary, "en"),
        "metadata": _metadata(tags),
        "thumbnail": [thumbnail],
        "homepage": [{"id": links.explorer_url, "type": "Text", "format": "text/html",
                      "label": language_map("Series in Orthanc Explorer", "en")}],
        "seeAlso": [{"id": links.orthanc_series_url, "type": "Dataset", "format": "application/json",
                     "label": language_map("Orthanc series resource", "en")}],
        "items": canvases,
    }


def whole_slide_manifest(links: SeriesLinks, tags: dict[str, str], service: ImageService, levels: int,
                         limits: Limits, thumbnail: dict | None = None) -> dict:
    """One canvas of the full slide; `thumbnail` (e.g. the associated THUMBNAIL image) else a small size."""
    summary = f"Whole-slide image, {service.width} x {service.height} pixels, {levels} pyramid levels"
    canvases = [_canvas(links, 0, service, limits)]
    return _manifest(links, tags, summary, thumbnail or image_thumbnail(service), canvases)


def frames_manifest(links: SeriesLinks, tags: dict[str, str], services: list[ImageService],
                    limits: Limits) -> dict:
    """One canvas per frame, each sized by its own frame; viewers show them one at a time."""
    if not services:
        raise ValueError("a manifest needs at least one frame")
    modality = tags.get("Modality", "") or "DICOM"
    summary = f"{modality} series, {len(services)} frame{'s' if len(services) != 1 else ''}"
    canvases = [_canvas(links, i, s, limits, f"Frame {i + 1}") for i, s in enumerate(services)]
    manifest = _manifest(links, tags, summary, image_thumbnail(services[0]), canvases)
    manifest["behavior"] = ["individuals"]
    return manifest
