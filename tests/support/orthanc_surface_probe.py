"""Describes an `orthanc` module's surface: the names our plugin calls, their call shapes and enum values.

Two uses, one code path, so the fake and the SDK are described by exactly the same questions:
- loaded by a real Orthanc as its PythonScript (orthanc-python imports it under the name
  "orthanc_surface_probe"), it answers `GET /surface-probe?names=...` with the real module's description;
- imported by the unit tests, `describe(fake_module, output, request, names)` describes the fake.

Call shapes come from calling each function with no argument: orthanc-python parses its arguments before doing
anything and says how many it expects ("Bad types for the arguments (3 arguments expected)"); the callback
registrations answer with their own ValueError. Self-contained (standard library only): it also runs in the
Debian 13 root (orthanc-python 5.0, Python 3.13) unchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

PROBE_PATH = "/surface-probe"
MISSING_SERIES = "/series/00000000-00000000-00000000-00000000-00000000"
_EXPECTED = re.compile(r"\((\d+) arguments? expected\)")


def call_shape(function: Any) -> dict:
    """What a call with no argument says: the arity when it names one, else the exception's type and words."""
    try:
        result = function()
    except Exception as error:  # the point: the SDK's own refusal
        expected = _EXPECTED.search(str(error))
        if expected:
            return {"arity": int(expected.group(1))}
        return {"refuses": f"{type(error).__name__}: {error}"}
    return {"arity": 0, "returns": type(result).__name__}


def _member(module: Any, dotted: str) -> Any:
    value = module
    for part in dotted.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def describe(module: Any, output: Any, request: dict, names: list[str]) -> dict:
    """The module's answer to every name: `orthanc.X`, `orthanc.Enum.MEMBER`, `output.X` (a RestOutput method)."""
    names_seen: dict[str, Any] = {}
    for name in names:
        owner, _, rest = name.partition(".")
        value = _member(output, rest) if owner == "output" else _member(module, rest)
        if value is None:
            names_seen[name] = None
        elif isinstance(value, type):
            names_seen[name] = {"class": [c.__name__ for c in value.__mro__[1:] if c.__name__ != "object"]}
        elif isinstance(value, int):
            names_seen[name] = {"int": int(value)}
        elif callable(value):
            names_seen[name] = call_shape(value)
        else:
            names_seen[name] = {"type": type(value).__name__}
    try:
        module.RestApiGet(MISSING_SERIES)
        missing: Any = "no exception"
    except Exception as error:
        missing = {"exception": type(error).__name__, "args": [type(a).__name__ for a in error.args],
                   "code": int(error.args[0]) if error.args and isinstance(error.args[0], int) else None}
    return {
        "names": names_seen,
        "rest_output_class": type(output).__name__,
        "callback_request": {key: type(value).__name__ for key, value in sorted(request.items())},
        "missing_resource": missing,
    }


# Callbacks handed to Orthanc stay referenced here: orthanc-python 5.0 frees callbacks it holds alone while
# the interpreter finalizes, and Orthanc then crashes at stop (see plugin/wsi_plugin.py `_CALLBACKS`).
_KEPT: list = []


def _register(orthanc: Any) -> None:
    def answer(output: Any, uri: str, **request: Any) -> None:
        names = [n for n in request.get("get", {}).get("names", "").split(",") if n]
        body = json.dumps(describe(orthanc, output, request, names), indent=1, sort_keys=True)
        output.AnswerBuffer(body.encode(), "application/json")

    _KEPT.append(answer)
    orthanc.RegisterRestCallback(PROBE_PATH, answer)


if __name__ == "orthanc_surface_probe":  # inside Orthanc; imported by tests it is tests.support.<this name>
    import orthanc

    _register(orthanc)
