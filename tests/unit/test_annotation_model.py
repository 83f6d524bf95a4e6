"""Slide annotations, pure parts: GeoJSON and our JSON in, checks, measurements, categories, configuration."""

from __future__ import annotations

import json
import math

import pytest
from wsi.annotations.categories import DEFAULT_CATEGORIES, CategoryError, parse_categories
from wsi.annotations.geojson import parse_body, to_feature
from wsi.annotations.measure import ellipse_outline, measurements
from wsi.annotations.model import Annotation, AnnotationSet, Limits, check_set
from wsi.config import ConfigError, load_settings
from wsi.errors import BadRequest


def _geojson(*features) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def test_geojson_from_qupath_keeps_name_and_classification() -> None:
    ring = [[0, 0], [10, 0], [10, 5], [0, 5], [0, 0]]
    parsed = parse_body(_geojson({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                                  "properties": {"name": "a", "classification": {"name": "Tumour"}}}))
    (annotation,) = parsed.annotations
    assert (annotation.graphic_type, annotation.points, annotation.label, annotation.category) == (
        "POLYGON", [(0, 0), (10, 0), (10, 5), (0, 5)], "a", "Tumour")


@pytest.mark.parametrize("annotation", [
    Annotation("POINT", [(1.5, 2.0)], "p", "Cell"),
    Annotation("POLYLINE", [(0, 0), (3, 4)], "l"),
    Annotation("POLYGON", [(0, 0), (4, 0), (0, 3)]),
    Annotation("RECTANGLE", [(0, 0), (4, 0), (4, 3), (0, 3)]),
    Annotation("ELLIPSE", [(0, 5), (10, 5), (5, 3), (5, 7)]),
])
def test_a_feature_we_write_is_read_back_the_same(annotation) -> None:
    (back,) = parse_body(_geojson(to_feature(annotation))).annotations
    assert (back.graphic_type, back.points, back.label, back.category) == (
        annotation.graphic_type, annotation.points, annotation.label, annotation.category)


@pytest.mark.parametrize(("annotation", "words"), [
    (Annotation("POINT", [(1, 1), (2, 2)]), "has 1 points"),
    (Annotation("POLYGON", [(1, 1), (1, 1), (2, 2)]), "3 distinct"),
    (Annotation("RECTANGLE", [(0, 0), (0, 0), (4, 3), (0, 3)]), "non-zero"),
    (Annotation("POINT", [(101, 1)]), "outside"),
    (Annotation("POINT", [(math.inf, 1)]), "finite"),
    (Annotation("POINT", [(1, 1)], "x" * 65), "64 characters"),
])
def test_geometry_that_cannot_be_stored_is_refused(annotation, words) -> None:
    with pytest.raises(BadRequest, match=words):
        check_set(AnnotationSet([annotation]), 100, 100, Limits())


def test_limits_count_annotations_and_points() -> None:
    many = AnnotationSet([Annotation("POINT", [(1, 1)])] * 3)
    with pytest.raises(BadRequest, match="AnnotationMaxCount"):
        check_set(many, 10, 10, Limits(max_annotations=2))
    with pytest.raises(BadRequest, match="AnnotationMaxPoints"):
        check_set(many, 10, 10, Limits(max_points=2))


def test_measurements_in_micrometres() -> None:
    spacing = (0.0005, 0.0005)
    assert measurements(Annotation("POLYLINE", [(0, 0), (30, 40)]), spacing) == {"length": 25.0}
    box = measurements(Annotation("RECTANGLE", [(0, 0), (20, 0), (20, 10), (0, 10)]), spacing)
    assert box == {"area": pytest.approx(50.0), "perimeter": pytest.approx(30.0)}
    circle = measurements(Annotation("ELLIPSE", [(0, 0), (20, 0), (10, -10), (10, 10)]), spacing)
    assert circle == {"area": pytest.approx(math.pi * 25), "perimeter": pytest.approx(math.pi * 10)}
    assert measurements(Annotation("POLYGON", [(0, 0), (1, 0), (0, 1)]), None) == {}
    outline = ellipse_outline([(0, 0), (20, 0), (10, -10), (10, 10)], 8)
    assert all(math.dist(p, (10, 0)) == pytest.approx(10) for p in outline)


def test_categories_option() -> None:
    settings = load_settings({"WholeSlideImaging": {"AnnotationCategories": [
        {"Label": "Gland", "Category": ["91723000", "SCT", "Anatomical structure"],
         "Type": ["87730007", "SCT", "Gland"], "Colour": "#00ff00"}]}})
    assert [c.label for c in settings.annotation_categories] == ["Gland"]
    assert load_settings({}).annotation_categories == DEFAULT_CATEGORIES
    with pytest.raises(ConfigError, match=r"AnnotationCategories: item 0\.Type"):
        load_settings({"WholeSlideImaging": {"AnnotationCategories": [{"Label": "x", "Category": ["1", "2", "3"]}]}})
    with pytest.raises(CategoryError, match="labels must differ"):
        parse_categories([{"Label": "a", "Category": ["1", "S", "m"], "Type": ["1", "S", "m"]}] * 2)
    with pytest.raises(ConfigError, match="AnnotationMaxBodyMB"):
        load_settings({"WholeSlideImaging": {"AnnotationMaxBodyMB": 0}})
