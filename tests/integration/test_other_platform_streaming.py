"""Large answers through a real Orthanc (test_streaming.py) again, on Debian 13's Orthanc (1.12.7, orthanc-python
5.0, Python 3.13, AllowThreads on) in the root of tests/support/debian13.py: there they are streamed
(StartStreamAnswer / SendStreamChunk), and must carry the same bytes, status and headers as the buffered answers
of a server with StreamLargeAnswers off, and the source's exact pixels (as on Debian 12, where nothing streams).
The test bodies and module fixtures are imported, not copied: pytest collects them here, and the servers they
start run in the root (`on_other_platform`).
"""

from __future__ import annotations

import pytest

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


def test_it_streams_there(probe) -> None:  # noqa: F811  (the fixture imported above)
    assert streams(probe), "orthanc-python 5.0 has StartStreamAnswer: the tests above must take that path"
