"""Presentation 3.0 manifests: the official JSON Schema, iiif-prezi3, and the canvas layout."""

import json
from pathlib import Path

import jsonschema
import pytest
from iiif_prezi3 import Manifest
from wsi.iiif_render import Limits
from wsi.manifest import (
    ImageService,
    SeriesLinks,
    fit_box,
    frames_manifest,
    series_label,
    whole_slide_manifest,
)

SCHEMA = json.loads((Path(__file__).parents[1] / "data" / "iiif" / "iiif_3_0.json").read_text())
PUBLIC = "https://pacs.example.org/orthanc/"
SERIES = "0a1b2c3d-4e5f6a7b-8c9d0e1f-2a3b4c5d-6e7f8a9b"
LIMITS = Limits(10000, 10000, 50_000_000)
TAGS = {"StudyDate": "20240131", "Modality": "SM", "StudyDescription": "Biopsy", "SeriesDescription": "H&E",
        "PatientID": "P-1", "PatientName": "Doe^Jane", "SeriesInstanceUID": "1.2.3", "AccessionNumber": ""}
LINKS = SeriesLinks(f"{PUBLIC}wsi/iiif/series/{SERIES}/manifest.json", f"{PUBLIC}series/{SERIES}",
                    f"{PUBLIC}app/explorer.html#series?uuid={SERIES}")


def validate(manifest: dict) -> None:
    jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(manifest)
    loaded = Manifest(**manifest)  # iiif-prezi3 parses it into its model...
    again = json.loads(loaded.jsonld())  # ...and writes back the same structure
    assert again["id"] == manifest["id"] and len(again["items"]) == len(manifest["items"])


def all_ids(node) -> list[str]:
    if isinstance(node, dict):
        return ([node["id"]] if isinstance(node.get("id"), str) else []) + [
            i for v in node.values() for i in all_ids(v)]
    if isinstance(node, list):
        return [i for v in node for i in all_ids(v)]
    return []


@pytest.fixture
def slide_manifest():
    service = ImageService(f"{PUBLIC}wsi/iiif/tiles/{SERIES}", 98304, 65536)
    return whole_slide_manifest(LINKS, TAGS, service, 8, LIMITS)


def test_whole_slide_manifest_validates(slide_manifest):
    validate(slide_manifest)


def test_whole_slide_manifest_layout(slide_manifest):
    m = slide_manifest
    assert m["label"] == {"en": ["20240131 - SM - Biopsy - H&E"]}
    assert len(m["items"]) == 1 and "behavior" not in m
    canvas = m["items"][0]
    assert (canvas["width"], canvas["height"]) == (98304, 65536)
    annotation = canvas["items"][0]["items"][0]
    assert annotation["motivation"] == "painting" and annotation["target"] == canvas["id"]
    body = annotation["body"]
    assert body["service"] == [{"id": f"{PUBLIC}wsi/iiif/tiles/{SERIES}", "type": "ImageService3",
                                "profile": "level2"}]
    assert LIMITS.allows(body["width"], body["height"])  # full/max is limited by maxWidth/maxArea
    thumb = m["thumbnail"][0]
    assert thumb["id"] == f"{PUBLIC}wsi/iiif/tiles/{SERIES}/full/256,171/0/default.jpg"
    assert m["seeAlso"][0]["id"] == f"{PUBLIC}series/{SERIES}"
    labels = {entry["label"]["en"][0]: entry["value"]["none"][0] for entry in m["metadata"]}
    assert labels["Patient ID"] == "P-1" and "Accession number" not in labels  # empty values left out


def test_every_id_uses_the_public_url(slide_manifest):
    ids = all_ids(slide_manifest)
    assert len(ids) >= 6 and all(i.startswith(PUBLIC) for i in ids)


def test_given_thumbnail_is_used():
    thumb = {"id": f"{PUBLIC}wsi/associated/{SERIES}/thumbnail", "type": "Image", "format": "image/png",
             "width": 300, "height": 200}
    m = whole_slide_manifest(LINKS, TAGS, ImageService(f"{PUBLIC}x", 1000, 800), 3, LIMITS, thumb)
    validate(m)
    assert m["thumbnail"] == [thumb]


def test_frames_manifest_has_one_canvas_per_frame_sized_by_its_own_frame():
    sizes = [(512, 512), (512, 512), (1024, 768), (10000, 12000)]
    services = [ImageService(f"{PUBLIC}wsi/iiif/frames/{SERIES}/{i}", w, h) for i, (w, h) in enumerate(sizes)]
    m = frames_manifest(LINKS, {**TAGS, "Modality": "CT"}, services, LIMITS)
    validate(m)
    assert m["behavior"] == ["individuals"]
    assert [(c["width"], c["height"]) for c in m["items"]] == sizes
    assert [c["items"][0]["items"][0]["body"]["service"][0]["id"] for c in m["items"]] == [s.id for s in services]
    assert len({c["id"] for c in m["items"]}) == 4
    assert m["summary"] == {"en": ["CT series, 4 frames"]}


def test_frames_manifest_needs_a_frame():
    with pytest.raises(ValueError):
        frames_manifest(LINKS, TAGS, [], LIMITS)


def test_schema_rejects_a_broken_manifest(slide_manifest):
    """The schema check is real: a canvas without its size fails."""
    del slide_manifest["items"][0]["width"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(slide_manifest)


@pytest.mark.parametrize(("tags", "label"), [
    (TAGS, "20240131 - SM - Biopsy - H&E"),
    ({"Modality": "CT"}, " - CT -  - "),
])
def test_series_label(tags, label):
    assert series_label(tags) == label


@pytest.mark.parametrize(("size", "fitted"), [((98304, 65536), (256, 171)), ((100, 50), (100, 50)),
                                             ((300, 3000), (26, 256))])
def test_fit_box(size, fitted):
    assert fit_box(*size, 256) == fitted
