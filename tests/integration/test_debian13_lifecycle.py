"""A clean stop (test_lifecycle.py) on Debian 13's Orthanc, with orthanc-python 5.0's AllowThreads on and off.

orthanc-python 5.0 segfaulted Orthanc at "Python plugin is finalizing" (exit 139) on every stop with our plugin
loaded. The test body is imported, not copied; the Orthanc it starts runs in the root (`on_debian13`, here
once per AllowThreads setting).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_lifecycle import test_orthanc_stops_cleanly_after_serving_every_route_family  # noqa: F401
from tests.support.debian13 import Debian13Root
from tests.support.orthanc_server import OrthancServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_debian13")]


@pytest.fixture(scope="module", params=[True, False], ids=["AllowThreads-on", "AllowThreads-off"])
def on_debian13(debian13_root: Debian13Root, request: pytest.FixtureRequest) -> Iterator[Debian13Root]:
    OrthancServer.default_root = debian13_root.with_config({"Python": {"AllowThreads": request.param}})
    try:
        yield OrthancServer.default_root
    finally:
        OrthancServer.default_root = None

