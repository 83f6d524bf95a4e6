"""The in-Orthanc codec matrix (test_codec_matrix.py: every pixel coding through /wsi/tiles, IIIF tiles and
IIIF frames, alone and with orthanc-gdcm, then a clean stop) again, on the other
platform's Orthanc in the root of tests/support/other_platform.py (Debian 13's from a Debian 12 host, Debian 12's
from a Debian 13 host).

On Debian 13 every out-of-range tile answered 500 while pixels were right (orthanc-python 5.0's SendHttpStatus).
The test bodies and module fixtures are imported, not copied: pytest collects them here, and the servers they
start run in the root (`on_other_platform`).
"""

from __future__ import annotations

import pytest

pytest.importorskip("tests.integration.test_codec_matrix", reason="the codec matrix is not in this checkout")

# pytest runs the tests in this order (their file's: the last one stops Orthanc).
# isort: off
from tests.integration.test_codec_matrix import (  # noqa: F401  (fixtures and tests collected here)
    written,
    served,
    test_coding_is_served_right,
    test_wheel_libraries_bind_to_their_own,
    test_rgb_jpeg_goes_out_as_stored_and_chromium_shows_it_right,
    test_webp_of_grey_images,
    test_orthanc_alive_then_stops_cleanly,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]
