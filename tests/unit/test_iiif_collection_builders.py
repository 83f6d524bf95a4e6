"""IIIF Collections as pure builders: schema-valid in every shape, pages, labels."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from iiif_prezi3 import Collection
from wsi.iiif_collections import Links, Ref, collection, pages, patient_label, series_item_label, study_label
from wsi.manifest import ImageService

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "iiif" / "iiif_3_0.json").read_text())
BASE = "http://orthanc.example/"


def valid(found: dict) -> dict:
    jsonschema.Draft7Validator(SCHEMA).validate(found)
    Collection(**found)
    return found


@pytest.mark.parametrize(("total", "size", "expected"), [
    (0, 10, [(0, 0)]),
    (1, 10, [(0, 1)]),
    (10, 10, [(0, 10)]),
    (11, 10, [(0, 10), (10, 1)]),
    (25, 10, [(0, 10), (10, 10), (20, 5)]),
    (3, 1, [(0, 1), (1, 1), (2, 1)]),
])
def test_pages_cover_every_item_once(total, size, expected):
    assert pages(total, size) == expected


def test_a_bare_collection_is_valid():
    found = valid(collection(Links(f"{BASE}c.json"), "Archive", "0 patients", [], []))
    assert found["items"] == [] and "thumbnail" not in found and "partOf" not in found


def test_a_full_collection_is_valid_and_links_everything():
    slide = ImageService(f"{BASE}wsi/iiif/tiles/s", 40000, 30000)
    frame = ImageService(f"{BASE}wsi/iiif/frames/i/0", 100, 50)
    items = [Ref(f"{BASE}m1.json", "Manifest", "Slide", slide, "Whole-slide image"),
             Ref(f"{BASE}m2.json", "Manifest", "CT", frame),
             Ref(f"{BASE}c2.json", "Collection", "No pixels")]
    links = Links(f"{BASE}c.json", f"{BASE}app/explorer.html#study?uuid=x", f"{BASE}studies/x", f"{BASE}p.json")
    found = valid(collection(links, "Study", "2 series", items, [("Study date", "20240101"), ("Empty", " ")],
                             slide))
    assert found["partOf"] == [{"id": f"{BASE}p.json", "type": "Collection"}]
    assert found["metadata"] == [{"label": {"en": ["Study date"]}, "value": {"none": ["20240101"]}}]
    first, second, third = found["items"]
    assert first["thumbnail"][0]["id"] == f"{BASE}wsi/iiif/tiles/s/full/256,192/0/default.jpg"
    assert second["thumbnail"][0]["id"] == f"{BASE}wsi/iiif/frames/i/0/full/100,50/0/default.jpg"  # never upscaled
    assert "thumbnail" not in third and "summary" not in third
    assert found["thumbnail"] == first["thumbnail"]


@pytest.mark.parametrize(("tags", "expected"), [
    ({"PatientName": "Doe^John", "PatientID": "42"}, "Doe John (42)"),
    ({"PatientName": "Doe^John^^^"}, "Doe John"),
    ({"PatientID": "42"}, "Patient 42"),
    ({}, "Unnamed patient"),
])
def test_patient_labels(tags, expected):
    assert patient_label(tags) == expected


@pytest.mark.parametrize(("tags", "expected"), [
    ({"StudyDate": "20240101", "StudyDescription": "Biopsy"}, "20240101 - Biopsy"),
    ({"StudyDescription": "Biopsy"}, "Biopsy"),
    ({"StudyInstanceUID": "1.2.3"}, "Study 1.2.3"),
])
def test_study_labels(tags, expected):
    assert study_label(tags) == expected


def test_series_item_label_is_the_manifests_unless_empty():
    tags = {"StudyDate": "20240101", "Modality": "SM", "StudyDescription": "S", "SeriesDescription": "D"}
    assert series_item_label(tags) == "20240101 - SM - S - D"
    assert series_item_label({"SeriesNumber": "3", "Modality": ""}) == "Series 3"
