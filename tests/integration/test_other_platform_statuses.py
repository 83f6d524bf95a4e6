"""Every status through a real Orthanc (test_statuses.py) again, on the other platform's Orthanc in the
root of tests/support/other_platform.py (Debian 13's from a Debian 12 host, Debian 12's from a Debian 13 host).

orthanc-python 5.0 changed `SendHttpStatus` to (status, body): every 400/404/406 we sent became a 500 there,
which only a run on that platform shows. The test bodies and module fixtures are imported, not copied: pytest
collects them here, and the servers they start run in the root (`on_other_platform`).
"""

from __future__ import annotations

import pytest

# pytest runs the tests in this order (their file's).
# isort: off
from tests.integration.test_statuses import (  # noqa: F401  (fixtures and tests collected here)
    probe,
    served,
    test_adapter_sends_every_status_with_headers_and_body,
    test_success_and_revalidation,
    test_iiif_base_uri_redirects_with_303_location_and_cors,
    test_other_methods_get_405_with_allow_on_every_route_family,
    test_concurrent_deletes_hold_no_http_thread,
    test_head_options_and_unknown_methods_are_answered_by_orthanc,
    test_bad_requests_are_400_in_our_words,
    test_unknown_resources_are_404_in_our_words,
    test_odd_accept_q_values_are_not_errors,
    test_not_implemented_transfer_syntax_is_501,
    test_undecodable_stored_frames_are_500_with_a_message,
    test_orthanc_failing_to_read_its_storage_is_502,
    test_a_cached_tile_of_a_deleted_series_is_404_not_500,
    test_log_has_no_refused_status,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]
