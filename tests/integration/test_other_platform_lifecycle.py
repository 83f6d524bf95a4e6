"""A clean stop (test_lifecycle.py) on the other platform's Orthanc, with AllowThreads on and off (Debian 13's
orthanc-python 5.0 honours it, Debian 12's 4.0 ignores it: a stop must be clean either way).

orthanc-python 5.0 segfaulted Orthanc at "Python plugin is finalizing" (exit 139) on every stop with our plugin
loaded. The test body is imported, not copied; the Orthanc it starts runs in the root (`on_other_platform`, here
once per AllowThreads setting).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_lifecycle import test_orthanc_stops_cleanly_after_serving_every_route_family  # noqa: F401
from tests.support.orthanc_server import OrthancServer
from tests.support.other_platform import REPO, PlatformRoot, _mounts_under

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]


@pytest.fixture(scope="module", params=[True, False], ids=["AllowThreads-on", "AllowThreads-off"])
def on_other_platform(other_root: PlatformRoot, request: pytest.FixtureRequest) -> Iterator[PlatformRoot]:
    OrthancServer.default_root = other_root.with_config({"Python": {"AllowThreads": request.param}})
    try:
        yield OrthancServer.default_root
    finally:
        OrthancServer.default_root = None



def test_the_roots_mounts_never_reach_the_host(on_other_platform: PlatformRoot, tmp_path) -> None:
    """/proc, /dev, /tmp and the checkout are mounted in Orthanc's own mount namespace: the host never sees
    them, while Orthanc runs or after it ends (killed included), so nothing can be left mounted."""
    server = OrthancServer(None, storage_dir=tmp_path / "orthanc")
    with server:
        # Orthanc's view (paths inside its root): /proc, and the checkout read-only.
        inside = {fields[4]: fields[5] for fields in map(str.split, Path(f"/proc/{server.pid}/mountinfo")
                                                         .read_text().splitlines())}
        assert "/proc" in inside and inside[str(REPO)].split(",")[0] == "ro", inside
        assert _mounts_under(on_other_platform.path) == []  # the host's view: nothing
        os.kill(server.pid, signal.SIGKILL)
    assert server.returncode == -signal.SIGKILL
    assert _mounts_under(on_other_platform.path) == []
