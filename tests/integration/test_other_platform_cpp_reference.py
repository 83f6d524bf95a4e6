"""The reference tests of the official C++ plugin (test_cpp_reference.py) again, against the other platform's
(3.2 on Orthanc 1.12.7 from a Debian 12 host, 1.1 on 1.10.1 from a Debian 13 host) in the root of
tests/support/other_platform.py. The tests read the plugin's version from
`/plugins/wsi` and expect what that version does (docs/cpp-plugin.md); the slides are the host's.
"""

from __future__ import annotations

import pytest

# pytest runs the tests in this order (their file's).
# isort: off
from tests.integration.test_cpp_reference import (  # noqa: F401  (tests collected here)
    test_the_fixture_runs_the_cpp_plugin,
    test_pyramid_json,
    test_levels_are_finest_first_whatever_the_upload_order,
    test_non_power_of_two_levels_keep_their_factors,
    test_tiles_are_the_source_at_full_tile_size,
    test_jpeg_tiles_are_passed_through,
    test_accept,
    test_error_statuses,
    test_a_sparse_hole,
    test_unsupported_layouts,
    test_rle_tiles,
    test_associated_images_become_a_level,
    test_explorer_button,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]


@pytest.fixture(scope="module")
def orthanc_cpp(orthanc_other_cpp):
    return orthanc_other_cpp


@pytest.fixture(scope="module")
def slides_cpp(slides_other_cpp):
    return slides_other_cpp
