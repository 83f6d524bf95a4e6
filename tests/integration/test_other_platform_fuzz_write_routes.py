"""The write-route fuzz (test_fuzz_write_routes.py) again, on the other platform's Orthanc in the root of
tests/support/other_platform.py (Debian 13: Orthanc 1.12.7, orthanc-python 5.0, Python 3.13): its HTTP threads, its
stack sizes and its import of pydicom and highdicom. The test and fixture are imported, not copied.
"""

from __future__ import annotations

import pytest

# isort: off
from tests.integration.test_fuzz_write_routes import (  # noqa: F401  (fixture and test collected here)
    write_server,
    test_write_routes_never_fail_the_server_and_store_nothing,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]
