import json
import threading

import pytest
from wsi import json_input
from wsi.errors import BadRequest


@pytest.mark.parametrize(("text", "depth"), [
    (b"1", 0), (b"[]", 1), (b'{"a": [1, {"b": []}]}', 4), (b'["[[[[", "{{{{"]', 1), (b'["\\"[[[["]', 1),
    (b"[" * 5 + b"]" * 5, 5), (b"", 0),
])
def test_depth_counts_brackets_outside_strings(text, depth):
    assert json_input.nesting_depth(text) == depth


def test_depth_carries_across_chunks(monkeypatch):
    monkeypatch.setattr(json_input, "_CHUNK", 3)
    assert json_input.nesting_depth(b'[[["x", [[]]]]]') == 5


def test_geojson_depth_is_accepted_and_parsed():
    feature = {"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 1], [0, 1]]]]}}
    body = json.dumps({"type": "FeatureCollection", "features": [feature]})
    assert json_input.loads(body, "body") == json.loads(body)


def test_too_deep_is_a_bad_request_without_parsing():
    with pytest.raises(BadRequest, match="body: JSON nested deeper than 64 levels"):
        json_input.loads(b"[" * 65 + b"]" * 65, "body")


def test_a_hundred_thousand_levels_are_refused_on_a_small_stack():
    """What crashed Orthanc: json.loads on such a body overflows a thread's small C stack (128 kB here)."""
    outcome = []

    def run():
        try:
            json_input.loads(b"[" * 100_000 + b"]" * 100_000, "body")
        except BadRequest as error:
            outcome.append(str(error))

    previous = threading.stack_size(128 * 1024)
    try:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(30)
    finally:
        threading.stack_size(previous)
    assert outcome == ["body: JSON nested deeper than 64 levels"]
