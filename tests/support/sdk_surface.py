"""The `orthanc` names our plugin calls, and the surface the probe reports for the real SDK and for the fake.

Recordings of the real module (tests/data/orthanc_sdk/orthanc-python-<version>.json) let the unit tests check the
fake offline; the integration test checks each recording against the live SDK of its platform.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

from tests.support import orthanc_surface_probe as probe
from tests.support.fake_orthanc_module import FakeOrthancModule

ROOT = Path(__file__).resolve().parents[2]
# Only these two files import `orthanc` (house rule); the adapter holds the module as `self._orthanc`.
BOUNDARY_FILES = (ROOT / "plugin" / "wsi_plugin.py", ROOT / "plugin" / "wsi" / "adapter.py")
RECORDINGS = ROOT / "tests" / "data" / "orthanc_sdk"
_MODULE_NAME = re.compile(r"\b(?:orthanc|self\._orthanc)\.([A-Z]\w*(?:\.[A-Z][A-Z0-9_]*)?)")
_OUTPUT_NAME = re.compile(r"\boutput\.([A-Z]\w*)")
# Names the boundary calls only where the module has them (the adapter asks first), and the first orthanc-python
# version here that has them: older recordings must show them absent, newer ones present.
SINCE = {"output.StartStreamAnswer": "5.0", "output.SendStreamChunk": "5.0"}


def used_names() -> list[str]:
    """Every `orthanc.X`, `orthanc.Enum.MEMBER` and `output.X` (RestOutput) named in the boundary files."""
    names: set[str] = set()
    for path in BOUNDARY_FILES:
        text = path.read_text()
        names.update(f"orthanc.{name}" for name in _MODULE_NAME.findall(text))
        names.update(f"output.{name}" for name in _OUTPUT_NAME.findall(text))
    return sorted(names)


def absent_in(version: str) -> list[str]:
    """The used names orthanc-python `version` lacks by design (SINCE); every other one must be there."""
    older = tuple(map(int, version.split(".")))
    return sorted(name for name, since in SINCE.items() if older < tuple(map(int, since.split("."))))


def probe_query(names: list[str]) -> str:
    return f"{probe.PROBE_PATH}?names={quote(','.join(names), safe=',')}"


def fake_surface(version: str, names: list[str]) -> dict:
    """The probe run against the fake module, through the fake's own callback machinery."""
    fake = FakeOrthancModule(version)
    probe._register(fake)
    got = fake.call("GET", probe.PROBE_PATH, query={"names": ",".join(names)})
    posted = fake.call("POST", probe.PROBE_PATH, body=b"x")
    return _combine(*(json.loads(output.sent[2]) for output in (got, posted) if output.sent))


def _combine(get: dict, post: dict) -> dict:
    return {**get, "callback_request": {"GET": get["callback_request"], "POST": post["callback_request"]}}


def server_surface(server, names: list[str]) -> dict:
    """The probe's answer from a real Orthanc that loaded tests/support/orthanc_surface_probe.py."""
    answers = []
    for method, path in (("GET", probe_query(names)), ("POST", probe.PROBE_PATH)):
        status, _, body = server.request(method, path, body=b"x" if method == "POST" else None)
        if status != 200:
            raise AssertionError(f"{method} {path}: {status} {body[:300]!r}\n{server.log_tail()}")
        answers.append(json.loads(body))
    return _combine(*answers)


def recording_path(version: str) -> Path:
    return RECORDINGS / f"orthanc-python-{version}.json"


def recorded(version: str) -> dict:
    return json.loads(recording_path(version).read_text())
