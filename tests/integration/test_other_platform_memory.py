"""orthanc-python's request arguments and the frame limits (test_memory.py) again, on the other platform's Orthanc
in the root of tests/support/other_platform.py (Debian 13's orthanc-python 5.0 on a Debian 12 host, Debian 12's
4.0 on a Debian 13 host): the probe must find the leak on 4.0 and switch the repair off on 5.0, which frees every
request's arguments itself (a repair there would free objects still in use). The test bodies and module fixture
are imported, not copied; the Orthanc they start runs in the root.
"""

from __future__ import annotations

import pytest

from tests.integration.test_memory import (  # noqa: F401  (fixtures and tests collected here)
    limited,
    test_a_lowered_frame_pixel_limit_refuses_decoding_with_our_message,
    test_a_lowered_whole_pixel_data_limit_refuses_a_large_native_ybr_422_instance,
    test_request_arguments_are_freed_after_each_request,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]
