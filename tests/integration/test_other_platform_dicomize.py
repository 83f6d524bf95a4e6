"""POST /wsi/dicomize on the other platform's Orthanc (tests/support/other_platform.py): on Debian 13
(orthanc-python 5.0) the body, the job thread's RestApiPost/RestApiDelete and the undo must
behave as on the host. The host's tests are collected here and run against a server in the root."""

from __future__ import annotations

import pytest

from tests.integration.test_dicomize_orthanc import (  # noqa: F401  (fixtures and tests, run in the root)
    aperio,
    server,
    test_a_failure_midway_deletes_what_was_stored,
    test_a_job_is_followed_to_its_end,
    test_bad_input_is_a_clear_4xx_and_leaves_nothing,
    test_cancel_stops_and_undoes,
    test_methods_and_unknown_jobs,
    test_png_and_jpeg_become_slides_openslide_reads,
    test_round_trip_tiff_to_dicom_to_tiff,
    test_tiff_slide_tiles_equal_the_source,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]


def test_the_server_runs_in_the_root(server, on_other_platform) -> None:  # noqa: F811
    assert server.root is not None
