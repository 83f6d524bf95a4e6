"""Lengths, areas and perimeters in micrometres from the slide's pixel spacing (pure)."""

from __future__ import annotations

import itertools
import math

from .model import ELLIPSE, POINT, POLYGON, POLYLINE, RECTANGLE, Annotation, Point

LENGTH, AREA, PERIMETER = "length", "area", "perimeter"
UNITS = {LENGTH: "um", AREA: "um2", PERIMETER: "um"}  # UCUM


def _scaled(points: list[Point], spacing_mm: tuple[float, float]) -> list[Point]:
    sx, sy = spacing_mm[0] * 1000, spacing_mm[1] * 1000
    return [(x * sx, y * sy) for x, y in points]


def _path_length(points: list[Point], closed: bool) -> float:
    ring = points + points[:1] if closed else points
    return sum(math.dist(a, b) for a, b in itertools.pairwise(ring))


def _shoelace(points: list[Point]) -> float:
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(points, points[1:] + points[:1], strict=True))) / 2


def _ellipse(points: list[Point]) -> tuple[float, float]:
    """Area and perimeter (Ramanujan's second approximation) of an ellipse given by its two axes."""
    a, b = math.dist(points[0], points[1]) / 2, math.dist(points[2], points[3]) / 2
    h = ((a - b) / (a + b)) ** 2 if a + b else 0.0
    return math.pi * a * b, math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


def measurements(annotation: Annotation, spacing_mm: tuple[float, float] | None) -> dict[str, float]:
    """What the annotation measures, by name: length of a line, area and perimeter of a closed shape.

    Nothing without a pixel spacing, nothing for a point. An ellipse's axes are only perpendicular in
    micrometres when the spacing is square, which scanners write.
    """
    kind = annotation.graphic_type
    if spacing_mm is None or kind == POINT:
        return {}
    points = _scaled(annotation.points, spacing_mm)
    if kind == POLYLINE:
        return {LENGTH: _path_length(points, closed=False)}
    if kind == ELLIPSE:
        area, perimeter = _ellipse(points)
        return {AREA: area, PERIMETER: perimeter}
    if kind in (POLYGON, RECTANGLE):
        return {AREA: _shoelace(points), PERIMETER: _path_length(points, closed=True)}
    return {}


def ellipse_outline(points: list[Point], vertices: int = 64) -> list[Point]:
    """A polygon of `vertices` points on the ellipse given by its major then its minor axis."""
    (x1, y1), (x2, y2), (x3, y3), (x4, y4) = points
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    ax, ay = (x2 - x1) / 2, (y2 - y1) / 2  # half the first axis
    bx, by = (x4 - x3) / 2, (y4 - y3) / 2  # half the second
    return [(cx + ax * math.cos(t) + bx * math.sin(t), cy + ay * math.cos(t) + by * math.sin(t))
            for t in (2 * math.pi * i / vertices for i in range(vertices))]
