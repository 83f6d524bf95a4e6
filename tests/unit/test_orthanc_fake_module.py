"""The fake `orthanc` module against the recorded real SDK (orthanc-python 4.0 and 5.0), offline.

The recordings are checked against the live SDK by tests/integration/test_orthanc_sdk_surface.py; here a name
our boundary files start calling, or a fake that answers otherwise than the SDK, fails without any Orthanc.
"""

from __future__ import annotations

import pytest

from tests.support.fake_orthanc_module import VERSIONS, FakeOrthancModule, OrthancException, RestOutput
from tests.support.sdk_surface import SINCE, absent_in, fake_surface, recorded, used_names


@pytest.mark.parametrize("version", VERSIONS)
def test_every_name_our_code_calls_is_recorded(version: str) -> None:
    names = recorded(version)["names"]
    unknown = [name for name in used_names() if names.get(name) is None]
    # Streamed answers are 5.0's only: recorded as absent from 4.0 (the adapter asks before it uses them).
    assert sorted(unknown) == absent_in(version), \
        f"not in the orthanc-python {version} recording (record it: WSI_RECORD_SDK=1): {unknown}"
    assert set(SINCE) <= set(names), f"the {version} recording does not say whether it has {sorted(SINCE)}"


@pytest.mark.parametrize("version", VERSIONS)
def test_the_fake_answers_like_the_recorded_sdk(version: str) -> None:
    names = used_names()
    real = recorded(version)
    real = {**real, "names": {name: real["names"].get(name) for name in names}}
    assert fake_surface(version, names) == real


def test_the_used_names_are_found() -> None:
    # The scan itself: a regex that found nothing would make the two tests above pass vacuously.
    names = used_names()
    for expected in ("orthanc.RestApiGet", "orthanc.RegisterRestCallback", "orthanc.ChangeType.NEW_INSTANCE",
                     "orthanc.ErrorCode.UNKNOWN_RESOURCE", "output.SendHttpStatus", "output.SendMethodNotAllowed",
                     *SINCE):
        assert expected in names


@pytest.mark.parametrize("version", VERSIONS)
def test_the_fake_refuses_what_the_sdk_refuses(version: str) -> None:
    output = RestOutput(version)
    for status in (301, 401, 405):
        with pytest.raises(Exception, match=str(status)):
            output.SendHttpStatusCode(status)
    with pytest.raises(TypeError):
        output.SendHttpStatus(404, "text", 4) if version == "5.0" else output.SendHttpStatus(404, b"text")
    with pytest.raises(TypeError):
        output.SetHttpHeader("X-Number", 3)
    with pytest.raises(TypeError):
        output.AnswerBuffer("text, not bytes", "text/plain")
    assert output.sent is None
    fake = FakeOrthancModule(version)
    with pytest.raises(ValueError):
        fake.RegisterRestCallback("/path", "not callable")
    with pytest.raises(OrthancException) as missing:
        fake.RestApiGet("/series/unknown")
    assert missing.value.args[0] == fake.ErrorCode.UNKNOWN_RESOURCE
