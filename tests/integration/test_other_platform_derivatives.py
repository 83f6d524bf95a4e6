"""The derivative disk cache and pre-rendering (test_derivatives.py) on the other platform's Orthanc, in the root
of tests/support/other_platform.py (from a Debian 12 host: Orthanc 1.12.7, orthanc-python 5.0, AllowThreads on).

The test bodies are imported, not copied; every Orthanc they start runs in the root (`on_other_platform`).
"""

from __future__ import annotations

import pytest

# isort: off
from tests.integration.test_derivatives import (  # noqa: F401  (tests collected here)
    test_cache_survives_a_restart_and_is_shared_by_two_orthancs,
    test_eviction_keeps_the_folder_under_its_budget,
    test_a_series_stored_again_with_other_pixels_is_never_served_stale,
    test_pre_render_runs_when_stable_shows_progress_and_fills_the_cache,
    test_pre_render_yields_to_requests_and_stops_at_shutdown,
    test_a_killed_writer_leaves_no_partial_entry,
    test_first_frames_are_read_when_the_pyramid_is_asked_for,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]
