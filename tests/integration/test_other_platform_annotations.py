"""Slide annotations (test_annotations.py) again, on the other platform's Orthanc in the root of
tests/support/other_platform.py: highdicom and pydicom imported inside that Orthanc's embedded Python
(3.13 on Debian 13) write and read the objects. Test bodies and fixtures are imported, not copied; the servers
they start run in the root (`on_other_platform`), the checks (highdicom, dciodvfy) on the host.
"""

from __future__ import annotations

import pytest

# isort: off
from tests.integration.test_annotations import (  # noqa: F401  (fixtures and tests collected here)
    server,
    slide,
    saved,
    test_a_save_is_a_bulk_simple_annotations_instance_highdicom_reads_with_the_same_coordinates,
    test_the_list_names_the_object_with_author_date_and_counts,
    test_geojson_of_a_saved_object_gives_back_what_was_posted,
    test_highdicom_2d_and_3d_objects_are_listed_and_placed_in_slide_pixels,
    test_a_slim_tid1500_report_is_read_only_and_placed_in_slide_pixels,
    test_bad_input_gets_a_clear_4xx_and_writes_nothing,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]
