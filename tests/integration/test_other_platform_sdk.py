"""The drift check of the `orthanc` module (test_orthanc_sdk_surface.py) against the other platform's
orthanc-python (5.0 on Debian 13, 4.0 on Debian 12) in the root of tests/support/other_platform.py: every name our
boundary calls exists there, the recording of that version the unit tests use is that module, and the fake
answers like it. The test bodies and module fixture are imported,
not copied: pytest collects them here, and the Orthanc they start runs in the root (`on_other_platform`).
"""

from __future__ import annotations

import pytest

from tests.support.other_platform import PlatformRoot

# pytest runs the tests in this order (their file's).
# isort: off
from tests.integration.test_orthanc_sdk_surface import (  # noqa: F401  (fixtures and tests collected here)
    sdk,
    test_every_name_our_code_calls_exists_in_the_sdk,
    test_the_recording_is_the_sdk,
    test_the_fake_module_answers_like_the_sdk,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]


def test_it_is_the_roots_orthanc_python(sdk, on_other_platform: PlatformRoot) -> None:  # noqa: F811
    platform = on_other_platform.platform
    assert sdk[0] == platform.orthanc_python and on_other_platform.packages["orthanc-python"].startswith(sdk[0])
