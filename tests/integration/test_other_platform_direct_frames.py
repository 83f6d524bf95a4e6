"""test_direct_frames.py again on the other platform's Orthanc (from a Debian 12 host: Orthanc 1.12.7,
orthanc-python 5.0): the frame map against Orthanc's raw-frame route there, the cache headers, 304 and the stale
version's 404, private caching under authentication. The test bodies are imported, not copied (see
test_other_platform_tiles.py)."""

from __future__ import annotations

import pytest

# isort: off
from tests.integration.test_direct_frames import (  # noqa: F401  (tests collected here)
    test_every_mapped_frame_from_orthanc_is_the_tile_we_send,
    test_frames_that_are_not_browser_jpeg_are_not_mapped,
    test_frames_with_a_colour_profile_to_embed_are_not_mapped,
    test_a_first_frame_a_browser_cannot_decode_leaves_the_map_once_warmed,
    test_versioned_tiles_are_immutable_and_a_stale_version_is_404,
    test_unversioned_tiles_have_an_etag_and_answer_304,
    test_tiles_are_private_when_orthanc_asks_for_credentials,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]


@pytest.fixture(scope="module")
def orthanc(orthanc_other):
    return orthanc_other


@pytest.fixture(scope="module")
def slides(slides_other):
    return slides_other
