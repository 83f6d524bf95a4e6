"""Hostile frames of every codec (test_corrupt_frames.py: cut, bit-flipped, lying headers... with orthanc-gdcm loaded)
again, on the other platform's Orthanc in the root of tests/support/other_platform.py (Debian 13's from a Debian 12
host, Debian 12's from a Debian 13 host): never down, bounded memory, a clean stop. The test bodies and module
fixture are imported, not copied: pytest collects them here, and the Orthanc they start runs in the root
(`on_other_platform`).
"""

from __future__ import annotations

import pytest

# pytest runs the tests in this order (their file's: the last one stops Orthanc).
# isort: off
from tests.integration.test_corrupt_frames import (  # noqa: F401  (fixtures and tests collected here)
    hostile,
    test_hostile_frames_never_take_orthanc_down,
    test_orthanc_memory_bounded_and_stops_cleanly,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]
