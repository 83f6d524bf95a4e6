"""Bounded random bad input against a real Orthanc on 127.0.0.1: every answer is a documented status, never 500.

Paths are built from fragments of valid requests mixed with malformed ones (a seeded generator, so a
failure can be replayed). At most REQUESTS requests, and the loop stops after DEADLINE_S whatever happens.
"""

from __future__ import annotations

import random
import time
import urllib.parse

import pytest

pytestmark = pytest.mark.integration

REQUESTS = 600
DEADLINE_S = 90
ALLOWED = {200, 301, 303, 304, 400, 404, 405, 406, 414, 501}
WEIRD = ["", ".", "..", "%2e%2e", "%00", "-1", "0x10", "1e3", "99999999999", " ", "%20", "%5c", "a/b", "é",
         "'", '"', "<script>", "%ff", "full", "max", "pct:", "!", "^", ",", "0,0,0,0", "info.json", "*"]


def _segment(rng: random.Random, valid: list[str]) -> str:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(valid)
    if roll < 0.8:
        return urllib.parse.quote(rng.choice(WEIRD), safe="%/:,!^*")
    return str(rng.randint(-5, 70000))


def _paths(rng: random.Random, series: str, instance: str) -> list[str]:
    ids = [series, instance, series.upper(), series[:-1], "00000000-00000000-00000000-00000000-00000000"]
    templates = [
        ("wsi", "pyramids", "ID"), ("wsi", "tiles", "ID", "N", "N", "N"), ("wsi", "associated", "ID", "W"),
        ("wsi", "iiif", "tiles", "ID", "R", "S", "N", "Q"), ("wsi", "iiif", "tiles", "ID", "info.json"),
        ("wsi", "iiif", "frames", "ID", "N", "R", "S", "N", "Q"), ("wsi", "iiif", "series", "ID", "manifest.json"),
        ("wsi", "app", "W"), ("wsi", "app", "W", "W"),
    ]
    valid = {"ID": ids, "N": ["0", "1", "2"], "W": ["viewer.html", "label", "viewer.js", "vendor"],
             "R": ["full", "square", "0,0,256,256", "pct:10,10,50,50"],
             "S": ["max", "256,", ",128", "!200,200", "pct:50"],
             "Q": ["default.jpg", "gray.png", "color.webp", "bitonal.tif"]}
    out = []
    for _ in range(REQUESTS):
        template = rng.choice(templates)
        parts = [_segment(rng, valid[p]) if p in valid else p for p in template]
        if rng.random() < 0.15:
            parts.insert(rng.randrange(len(parts)), _segment(rng, ["x"]))
        query = rng.choice(["", "?focal-plane=" + _segment(rng, ["0"]), "?optical-path=" + _segment(rng, ["1"]),
                            "?series=" + series])
        out.append("/" + "/".join(parts) + query)
    return out


def test_random_bad_requests_never_fail_the_server(orthanc, slides):
    series = slides["ours-sparse"]
    instance = orthanc.get_json(f"/series/{series}")["Instances"][0]
    rng = random.Random(20261122)
    accepts = ["", "image/png", "image/jp2;q=0.1", "text/html", "*/*;q=0", "image/*;q=abc", "x" * 300]
    deadline = time.monotonic() + DEADLINE_S
    seen: dict[int, int] = {}
    for path in _paths(rng, series, instance):
        if time.monotonic() > deadline:
            break
        accept = rng.choice(accepts)
        status, _, body = orthanc.get(path, {"Accept": accept} if accept else None)
        assert status in ALLOWED, (path, accept, status, body[:200])
        seen[status] = seen.get(status, 0) + 1
    assert orthanc.get("/system")[0] == 200  # still alive
    assert seen.get(200, 0) > 10 and seen.get(400, 0) > 10 and seen.get(404, 0) > 10, seen
