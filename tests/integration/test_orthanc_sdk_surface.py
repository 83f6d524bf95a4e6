"""Drift check: the real `orthanc` module against our fake and the recording the unit tests use.

A real Orthanc loads tests/support/orthanc_surface_probe.py, which describes the module (every name our boundary
files call, each one's call shape, the enum values, what a missing resource raises, the keyword arguments of a
REST callback). Each name must exist; the description must equal the recording of that orthanc-python version
(tests/data/orthanc_sdk/) and the fake's own description. `WSI_RECORD_SDK=1` rewrites the recording instead.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator

import pytest

from tests.support import orthanc_surface_probe as probe
from tests.support.orthanc_server import OrthancServer, require_orthanc
from tests.support.sdk_surface import (
    absent_in,
    fake_surface,
    recorded,
    recording_path,
    server_surface,
    used_names,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """(orthanc-python version, the probe's description of the real module)."""
    require_orthanc()
    directory = tmp_path_factory.mktemp("sdk-surface")
    # Orthanc imports the script under its file name: the probe registers its route only under that name.
    script = directory / "orthanc_surface_probe.py"
    shutil.copy(probe.__file__, script)
    with OrthancServer(script, storage_dir=directory / "orthanc") as server:
        version = server.get_json("/plugins/python")["Version"]
        yield version, server_surface(server, used_names())


def test_every_name_our_code_calls_exists_in_the_sdk(sdk: tuple[str, dict]) -> None:
    version, live = sdk
    missing = [name for name, found in live["names"].items() if found is None]
    # Only the names known to come later (streamed answers: 5.0) may be missing, and only before that version.
    assert sorted(missing) == absent_in(version), f"orthanc-python {version} has no {missing}"


def test_the_recording_is_the_sdk(sdk: tuple[str, dict]) -> None:
    version, live = sdk
    path = recording_path(version)
    if os.environ.get("WSI_RECORD_SDK"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(live, indent=1, sort_keys=True) + "\n")
    assert path.exists(), f"no recording of orthanc-python {version}: run this test with WSI_RECORD_SDK=1"
    assert recorded(version) == live, f"orthanc-python {version} differs from {path} (WSI_RECORD_SDK=1 rewrites it)"


def test_the_fake_module_answers_like_the_sdk(sdk: tuple[str, dict]) -> None:
    version, live = sdk
    assert fake_surface(version, used_names()) == live
