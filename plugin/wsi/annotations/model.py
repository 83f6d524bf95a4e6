"""Annotations as plain values: what the viewer draws, what GeoJSON carries, what DICOM stores (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import BadRequest

# DICOM graphic types of Bulk Simple Annotations (PS3.3 C.37.1.2; ELLIPSE and RECTANGLE only in 2D) and how
# many points each needs: a line is a POLYLINE of two points; an ellipse is its major then its minor axis.
POINT, POLYLINE, POLYGON, RECTANGLE, ELLIPSE = "POINT", "POLYLINE", "POLYGON", "RECTANGLE", "ELLIPSE"
GRAPHIC_TYPES = (POINT, POLYLINE, POLYGON, RECTANGLE, ELLIPSE)
_FIXED_POINTS = {POINT: 1, RECTANGLE: 4, ELLIPSE: 4}
_MIN_POINTS = {POLYLINE: 2, POLYGON: 3}

Point = tuple[float, float]


@dataclass(frozen=True)
class Limits:
    """Bounds of one stored object (README options AnnotationMax...)."""

    max_annotations: int = 100_000
    max_points: int = 2_000_000  # all vertices of all annotations
    max_text: int = 64  # DICOM LO: a label is stored as Annotation Group Label


@dataclass
class Annotation:
    graphic_type: str
    points: list[Point]  # total pixel matrix (x = column, y = row), origin at the top-left corner of the slide
    label: str = ""
    category: str = ""  # a label of the configured category list, or a foreign code's meaning
    measurements: dict[str, tuple[float, str]] = field(default_factory=dict)  # name -> (value, UCUM unit)
    layer: str = ""  # the group (layer) it was read from; groups are rebuilt when written


@dataclass
class AnnotationSet:
    annotations: list[Annotation]
    description: str = ""
    creator: str = ""  # DICOM person name, e.g. "Doe^Jane"


def check_annotation(annotation: Annotation, index: int, width: float, height: float, limits: Limits) -> None:
    """BadRequest naming the annotation when its geometry cannot be stored as its graphic type."""
    where = f"annotations[{index}]"
    kind, points = annotation.graphic_type, annotation.points
    if kind not in GRAPHIC_TYPES:
        raise BadRequest(f"{where}: unknown graphic type {kind[:20]!r}", "geometry")
    fixed = _FIXED_POINTS.get(kind)
    if fixed is not None and len(points) != fixed:
        raise BadRequest(f"{where}: a {kind} has {fixed} points, got {len(points)}", "geometry")
    if fixed is None and len(points) < _MIN_POINTS[kind]:
        raise BadRequest(f"{where}: a {kind} needs at least {_MIN_POINTS[kind]} points, got {len(points)}",
                         "geometry")
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise BadRequest(f"{where}: coordinates must be finite numbers", "geometry")
        if not (0 <= x <= width and 0 <= y <= height):
            raise BadRequest(f"{where}: point ({x:.6g}, {y:.6g}) is outside the slide ({width} x {height} px)",
                             "geometry")
    if kind == POLYGON and len(set(points)) < 3:
        raise BadRequest(f"{where}: a POLYGON needs 3 distinct points", "geometry")
    if kind in (RECTANGLE, ELLIPSE) and _degenerate(kind, points):
        raise BadRequest(f"{where}: a {kind} must have a non-zero width and height", "geometry")
    for name, text in (("label", annotation.label), ("category", annotation.category)):
        if len(text) > limits.max_text or any(ord(c) < 32 or c == "\\" for c in text):
            raise BadRequest(f"{where}: {name} must be at most {limits.max_text} characters, without control "
                             "characters or backslashes", name)


def _degenerate(kind: str, points: list[Point]) -> bool:
    if kind == ELLIPSE:
        return math.dist(points[0], points[1]) == 0 or math.dist(points[2], points[3]) == 0
    return math.dist(points[0], points[1]) == 0 or math.dist(points[1], points[2]) == 0


def check_set(annotations: AnnotationSet, width: float, height: float, limits: Limits) -> None:
    """Every annotation valid and the whole within the limits, before anything is written."""
    count = len(annotations.annotations)
    if count == 0:
        raise BadRequest("nothing to store: no annotations", "annotations")
    if count > limits.max_annotations:
        raise BadRequest(f"{count} annotations is more than AnnotationMaxCount ({limits.max_annotations})",
                         "annotations")
    total = sum(len(a.points) for a in annotations.annotations)
    if total > limits.max_points:
        raise BadRequest(f"{total} points is more than AnnotationMaxPoints ({limits.max_points})", "annotations")
    for index, annotation in enumerate(annotations.annotations):
        check_annotation(annotation, index, width, height, limits)
    for name, text in (("description", annotations.description), ("creator", annotations.creator)):
        if len(text) > limits.max_text or any(ord(c) < 32 or c == "\\" for c in text):
            raise BadRequest(f"{name} must be at most {limits.max_text} characters, without control characters "
                             "or backslashes", name)
