"""IIIF in a real Orthanc (test_iiif_orthanc.py: the official validator, manifests, a reverse proxy) again, on
Debian 13's Orthanc (1.12.7, orthanc-python 5.0, Python 3.13, AllowThreads on) in the root of
tests/support/debian13.py.

There 9 of the validator's 33 level-2 tests failed while error answers became 500s (orthanc-python 5.0's
`SendHttpStatus`). The test bodies and module fixture are imported, not copied: pytest collects them here, and
the servers they start run in the root (`on_debian13`); the validator and nginx run on the host.
"""

from __future__ import annotations

import pytest

# pytest runs the tests in this order (their file's).
# isort: off
from tests.integration.test_iiif_orthanc import (  # noqa: F401  (fixtures and tests collected here)
    served,
    test_validator_level_2_on_a_lossless_slide_of_the_validation_image,
    test_validator_level_2_on_a_frame_of_the_validation_image,
    test_validator_image_independent_tests_on_real_slides,
    test_validator_image_independent_tests_on_a_tiled_radiograph,
    test_manifests_validate,
    test_radiology_manifest_sizes_each_canvas_by_its_own_frame,
    test_frames_by_instance_match_frames_by_series,
    test_large_radiograph_is_tiled,
    test_every_id_uses_the_public_url_through_a_real_proxy,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_debian13")]
