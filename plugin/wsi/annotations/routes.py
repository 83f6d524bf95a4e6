"""Routes of slide annotations: list, read as GeoJSON, store a new Bulk Simple Annotations instance.

  GET  /wsi/annotations/{series}             the annotation objects referring to the slide, and the categories
  GET  /wsi/annotations/{series}/{instance}  one object as a GeoJSON FeatureCollection
  POST /wsi/annotations/{series}             GeoJSON or {"annotations": [...]} -> a new instance in the study
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from ..errors import BadRequest, PayloadTooLarge
from ..http import SEGMENT, Request, Response, json_response

if TYPE_CHECKING:
    from ..app import App
    from .store import AnnotationStore

_NO_STORE = {"Cache-Control": "no-store"}  # a new save changes every answer


def _store(app: App) -> AnnotationStore:
    return app.annotations.store()


def _object_json(found, summary) -> dict:
    return {"ID": found.instance_id, "Kind": summary.kind, "ReadOnly": summary.read_only or not summary.ours,
            "Ours": summary.ours, "Creator": summary.creator, "Date": summary.date,
            "Description": summary.description, "InstanceNumber": found.instance_number, "Count": summary.count,
            "Groups": summary.groups}


def list_annotations(request: Request, app: App) -> Response:
    if request.method == "POST":
        return store_annotations(request, app)
    store = _store(app)
    slide = store.slide(request.groups[0])
    objects = []
    for found in store.objects(slide):
        objects.append(_object_json(found, store.summary(found)))
    latest = next((o["ID"] for o in reversed(objects) if o["Ours"]), None)
    spacing = list(slide.spacing_mm) if slide.spacing_mm else None
    body = {"Series": slide.series_id, "Width": slide.width, "Height": slide.height, "PixelSpacing": spacing,
            "Categories": [c.as_json() for c in store.categories], "Objects": objects, "Latest": latest,
            "MaxCount": store.limits.max_annotations, "MaxPoints": store.limits.max_points}
    return json_response(body, headers=_NO_STORE)


list_annotations.methods = ("GET", "HEAD", "POST")  # type: ignore[attr-defined]  # routes.dispatch


def get_annotation(request: Request, app: App) -> Response:
    from .geojson import to_feature_collection

    store = _store(app)
    slide = store.slide(request.groups[0])
    found = store.find(slide, request.groups[1])
    summary, annotations = store.read(slide, found)
    colours = {c.label: c.colour for c in store.categories}
    properties = {"instance": found.instance_id, "series": slide.series_id, **_object_json(found, summary)}
    # Compact: 10,000 points are 5.6 MB indented, a third of that without.
    body = json.dumps(to_feature_collection(annotations, properties, colours), separators=(",", ":")).encode()
    return Response(200, body, "application/geo+json", dict(_NO_STORE))


def store_annotations(request: Request, app: App) -> Response:
    from .geojson import parse_body

    limit = app.annotations.max_body_bytes
    if len(request.body) > limit:
        raise PayloadTooLarge(f"the body is larger than AnnotationMaxBodyMB ({limit >> 20} MB)")
    if not request.body:
        raise BadRequest("the body is empty: send GeoJSON or {\"annotations\": [...]}", "body")
    store = _store(app)
    slide = store.slide(request.groups[0])
    annotations = parse_body(request.body)
    instance_id, dataset = store.store(slide, annotations)
    return json_response({"ID": instance_id, "SOPInstanceUID": str(dataset.SOPInstanceUID),
                          "SeriesInstanceUID": str(dataset.SeriesInstanceUID),
                          "InstanceNumber": int(dataset.InstanceNumber),
                          "Count": len(annotations.annotations),
                          "Groups": len(dataset.AnnotationGroupSequence)}, headers=_NO_STORE)


ROUTES = [
    (rf"/wsi/annotations/{SEGMENT}", list_annotations),
    (rf"/wsi/annotations/{SEGMENT}/{SEGMENT}", get_annotation),
]
