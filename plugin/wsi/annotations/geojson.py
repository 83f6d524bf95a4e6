"""GeoJSON (RFC 7946, as QuPath writes and reads it) and our JSON <-> annotations (pure).

Coordinates are pixels of the slide's full-resolution image (x right, y down, origin at its top-left corner),
as QuPath's GeoJSON and DICOM's 2D annotations use them. GeoJSON has no rectangle or ellipse: they travel
as polygons marked `"shape": "rectangle"` / `"shape": "ellipse"` (with the ellipse's two axes in `"axes"`).
"""

from __future__ import annotations

import math
from typing import Any

from .. import json_input
from ..errors import BadRequest
from .measure import ellipse_outline
from .model import ELLIPSE, GRAPHIC_TYPES, POINT, POLYGON, POLYLINE, RECTANGLE, Annotation, AnnotationSet, Point


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{where}: coordinates must be finite numbers", "geometry")
    return float(value)


def _position(value: Any, where: str) -> Point:
    # RFC 7946 3.1.1: a position is two or more numbers; a third (altitude) has no meaning on a slide.
    if not isinstance(value, list) or len(value) < 2:
        raise BadRequest(f"{where}: a position is [x, y]", "geometry")
    return _number(value[0], where), _number(value[1], where)


def _positions(value: Any, where: str) -> list[Point]:
    if not isinstance(value, list):
        raise BadRequest(f"{where}: expected a list of positions", "geometry")
    return [_position(p, where) for p in value]


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{where} must be a string", where.rsplit(".", 1)[-1])
    return value.strip()


def parse_body(body: bytes) -> AnnotationSet:
    """A POST body: a GeoJSON FeatureCollection or Feature, or our {"annotations": [...]} JSON."""
    try:
        document = json_input.loads(body, "body")
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"the body is not JSON: {str(error)[:80]}", "body") from None
    if not isinstance(document, dict):
        raise BadRequest("expected a JSON object (GeoJSON FeatureCollection or {\"annotations\": [...]})", "body")
    kind = document.get("type")
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise BadRequest("a FeatureCollection needs a list of features", "features")
        annotations = [a for i, f in enumerate(features) for a in _feature(f, f"features[{i}]")]
    elif kind == "Feature":
        annotations = _feature(document, "feature")
    elif "annotations" in document and kind is None:
        items = document["annotations"]
        if not isinstance(items, list):
            raise BadRequest("annotations must be a list", "annotations")
        annotations = [_ours(item, f"annotations[{i}]") for i, item in enumerate(items)]
    else:
        raise BadRequest("expected a GeoJSON FeatureCollection or Feature, or {\"annotations\": [...]}", "body")
    meta = document.get("properties") if kind else document
    meta = meta if isinstance(meta, dict) else {}
    return AnnotationSet(annotations, _text(meta.get("description"), "description"),
                         _text(meta.get("creator"), "creator"))


def _ours(item: Any, where: str) -> Annotation:
    if not isinstance(item, dict):
        raise BadRequest(f"{where}: expected an object", "annotations")
    kind = item.get("type")
    if kind not in GRAPHIC_TYPES:
        raise BadRequest(f"{where}.type must be one of {', '.join(GRAPHIC_TYPES)}", "geometry")
    return Annotation(kind, _positions(item.get("points"), f"{where}.points"), _text(item.get("label"), "label"),
                      _text(item.get("category"), "category"))


def _feature(feature: Any, where: str) -> list[Annotation]:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise BadRequest(f"{where}: expected a GeoJSON Feature", "geometry")
    geometry = feature.get("geometry")
    properties = feature.get("properties") or {}
    if not isinstance(geometry, dict) or not isinstance(properties, dict):
        raise BadRequest(f"{where}: a Feature needs a geometry object", "geometry")
    classification = properties.get("classification")
    category = properties.get("category")
    if category is None and isinstance(classification, dict):
        category = classification.get("name")  # QuPath
    label = properties.get("label", properties.get("name"))
    return [Annotation(kind, points, _text(label, "label"), _text(category, "category"))
            for kind, points in _shapes(geometry, properties, where)]


def _shapes(geometry: dict, properties: dict, where: str) -> list[tuple[str, list[Point]]]:
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind == "Point":
        return [(POINT, [_position(coordinates, where)])]
    if kind == "MultiPoint":
        return [(POINT, [p]) for p in _positions(coordinates, where)]
    if kind == "LineString":
        return [(POLYLINE, _positions(coordinates, where))]
    if kind == "Polygon":
        return [_polygon(coordinates, properties, where)]
    if kind == "MultiPolygon" and isinstance(coordinates, list):
        return [_polygon(rings, {}, where) for rings in coordinates]
    raise BadRequest(f"{where}: geometry type {str(kind)[:20]!r} cannot be stored (Point, MultiPoint, "
                     "LineString, Polygon, MultiPolygon can)", "geometry")


def _polygon(rings: Any, properties: dict, where: str) -> tuple[str, list[Point]]:
    if not isinstance(rings, list) or not rings:
        raise BadRequest(f"{where}: a Polygon needs a ring", "geometry")
    if len(rings) > 1:
        raise BadRequest(f"{where}: polygons with holes cannot be stored in DICOM annotations", "geometry")
    ring = _positions(rings[0], where)
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise BadRequest(f"{where}: a Polygon ring has at least 4 positions, the last equal to the first",
                         "geometry")
    ring = ring[:-1]  # DICOM polygons do not repeat the first vertex
    shape = properties.get("shape")
    if shape == "rectangle":
        return RECTANGLE, ring
    if shape == "ellipse":
        return ELLIPSE, _positions(properties.get("axes"), f"{where}.properties.axes")
    return POLYGON, ring


def to_feature(annotation: Annotation, colour: str | None = None) -> dict:
    """One annotation as a GeoJSON Feature QuPath imports (name, classification) with our extras."""
    kind, points = annotation.graphic_type, [list(p) for p in annotation.points]
    properties: dict[str, Any] = {"objectType": "annotation", "graphicType": kind, "label": annotation.label,
                                  "category": annotation.category, "layer": annotation.layer}
    if annotation.label:
        properties["name"] = annotation.label
    if annotation.category:
        properties["classification"] = {"name": annotation.category}
        if colour:
            properties["classification"]["color"] = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    if annotation.measurements:
        properties["measurements"] = {name: {"value": value, "unit": unit}
                                      for name, (value, unit) in annotation.measurements.items()}
    if kind == POINT:
        geometry: dict[str, Any] = {"type": "Point", "coordinates": points[0]}
    elif kind == POLYLINE:
        geometry = {"type": "LineString", "coordinates": points}
    elif kind == ELLIPSE:
        properties.update(shape="ellipse", axes=points)
        outline = [list(p) for p in ellipse_outline(annotation.points)]
        geometry = {"type": "Polygon", "coordinates": [outline + outline[:1]]}
    else:
        if kind == RECTANGLE:
            properties["shape"] = "rectangle"
        geometry = {"type": "Polygon", "coordinates": [points + points[:1]]}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def to_feature_collection(annotations: list[Annotation], properties: dict, colours: dict[str, str]) -> dict:
    features = [to_feature(a, colours.get(a.category)) for a in annotations]
    return {"type": "FeatureCollection", "properties": properties, "features": features}

