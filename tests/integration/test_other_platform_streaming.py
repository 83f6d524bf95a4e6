"""Large answers through a real Orthanc (test_streaming.py) again, on the other platform's Orthanc in the root of
tests/support/other_platform.py. On Debian 13 (orthanc-python 5.0) they are streamed (StartStreamAnswer /
SendStreamChunk), and must carry the same bytes, status and headers as the buffered answers of a server with
StreamLargeAnswers off, and the source's exact pixels; on Debian 12 (orthanc-python 4.0, from a Debian 13 host)
nothing streams: the same tests check that every answer arrives whole, buffered, StreamLargeAnswers on or off.
The test bodies and module fixtures are imported, not copied: pytest collects them here, and the servers they
start run in the root (`on_other_platform`).
"""

from __future__ import annotations

import pytest

from tests.support.other_platform import PlatformRoot

# pytest runs the tests in this order (their file's).
# isort: off
from tests.integration.test_streaming import (  # noqa: F401  (fixtures and tests collected here)
    probe,
    served,
    streams,
    test_answers_around_the_threshold_arrive_whole_with_their_headers,
    test_a_client_leaving_mid_answer_harms_nothing,
    test_big_renders_are_the_same_streamed_or_not,
    test_a_streamed_render_revalidates_with_304,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]


def test_it_streams_where_orthanc_python_can(probe, on_other_platform: PlatformRoot) -> None:  # noqa: F811
    """5.0 has StartStreamAnswer: the tests above take that path there; 4.0 has not: they check buffered answers."""
    platform = on_other_platform.platform
    assert streams(probe) == platform.streams, f"orthanc-python {platform.orthanc_python}"
