"""orthanc-python's request arguments and the frame limits (test_memory.py) again, on Debian 13's Orthanc (1.12.7,
orthanc-python 5.0, Python 3.13) in the root of tests/support/debian13.py: there orthanc-python frees every
request's arguments, so the probe must switch the repair off (a repair there would free objects still in use).
The test bodies and module fixture are imported, not copied; the Orthanc they start runs in the root.
"""

from __future__ import annotations

import pytest

from tests.integration.test_memory import (  # noqa: F401  (fixtures and tests collected here)
    limited,
    test_a_lowered_frame_pixel_limit_refuses_decoding_with_our_message,
    test_a_lowered_whole_pixel_data_limit_refuses_a_large_native_ybr_422_instance,
    test_request_arguments_are_freed_after_each_request,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_debian13")]
