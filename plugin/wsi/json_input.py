"""JSON sent by clients (annotation bodies, dicomize options and dataset overrides), parsed only when it is nested
no deeper than MAX_DEPTH.

Orthanc runs our callbacks on its HTTP threads, whose C stack is small: Python's json decoder recurses in C once
per nesting level and overflowed it (a segmentation fault: Orthanc gone) on a body of 100,000 "[" before Python's
recursion limit could raise RecursionError (tests/integration/test_fuzz_write_routes.py found it; a plain Python
thread with a 128 kB stack crashes the same way). So the depth is measured first, without recursion: strings
blanked by one regular expression, then a running sum of brackets with numpy, a megabyte at a time.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from .errors import BadRequest

MAX_DEPTH = 64  # GeoJSON needs 5 (a MultiPolygon's coordinates in a Feature in a FeatureCollection), our JSON 4
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')  # a JSON string literal, escapes included; linear, no backtracking
_CHUNK = 1 << 20
_STEP = np.zeros(256, np.int8)
_STEP[[ord("["), ord("{")]] = 1
_STEP[[ord("]"), ord("}")]] = -1


def nesting_depth(data: bytes) -> int:
    """How deep arrays and objects nest in `data` (brackets inside strings do not count)."""
    text = _STRING.sub(b'""', data)
    depth = deepest = 0
    for start in range(0, len(text), _CHUNK):
        steps = _STEP[np.frombuffer(text, np.uint8, min(_CHUNK, len(text) - start), start)]
        running = np.cumsum(steps, dtype=np.int64) + depth
        deepest, depth = max(deepest, int(running.max())), int(running[-1])
    return deepest


def loads(data: bytes | str, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads for a client's JSON; BadRequest (naming `what`) when it nests deeper than `max_depth`. Errors of
    json.loads itself (ValueError, UnicodeDecodeError) are the caller's to word."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if nesting_depth(raw) > max_depth:
        raise BadRequest(f"{what}: JSON nested deeper than {max_depth} levels", what)
    return json.loads(raw)
