"""The IIIF Collections tests (test_iiif_collections.py) again, on the other platform's Orthanc (the root of
tests/support/other_platform.py): Orthanc 1.12.7 and orthanc-python 5.0 from a Debian 12 host, 1.10.1 and 4.0
from a Debian 13 one. Imported, not copied: pytest collects them here and the servers they start run in the root.
"""

from __future__ import annotations

import pytest

# isort: off
from tests.integration.test_iiif_collections import (  # noqa: F401  (fixture and tests collected here)
    archive,
    test_top_collection_pages_the_patients,
    test_pages_out_of_range_are_404,
    test_patient_collection_lists_studies_with_thumbnails,
    test_study_collection_lists_series_with_pixels_as_manifests,
    test_a_study_with_only_a_report_is_an_empty_collection,
    test_unknown_or_wrong_kind_of_resource_is_404,
    test_collections_follow_a_deletion,
    test_collections_are_behind_authentication_and_off_without_iiif,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]
