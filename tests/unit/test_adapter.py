"""The HTTP boundary on the fake `orthanc` module (tests/support), which refuses what Orthanc refuses; the one
error mapper."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from wsi.adapter import STREAM_CHUNK_BYTES, STREAM_MIN_BYTES, OrthancAdapter, describe_resource
from wsi.errors import BadRequest, NotFound, Overloaded, UpstreamError
from wsi.http import Request, Response, text_response
from wsi.iiif_routes import with_cors
from wsi.routes import dispatch, error_response

from tests.support.fake_orthanc_module import VERSIONS, FakeOrthancModule
from tests.support.fake_orthanc_module import RestOutput as FakeRestOutput

SERIES = "11111111-22222222-33333333-44444444-55555555"
CORS = {"Access-Control-Allow-Origin": "*"}
IIIF_APP = SimpleNamespace(settings=SimpleNamespace(enable_iiif=True))
STATUSES = (200, 303, 304, 400, 404, 405, 406, 413, 415, 500, 501, 502, 503)


def _response(status: int) -> Response:
    headers = dict(CORS)
    if status == 303:
        headers["Location"] = "http://example.org/next"
    if status == 503:
        headers["Retry-After"] = "7"
    if status == 405:
        headers["Allow"] = "GET"
    return Response(status, f"answer {status}\n".encode(), "text/plain; charset=utf-8", headers)


@pytest.mark.parametrize("signature", VERSIONS)
@pytest.mark.parametrize("status", STATUSES)
def test_every_status_is_sent_the_way_orthanc_accepts_it(signature: str, status: int) -> None:
    output = FakeRestOutput(signature)
    OrthancAdapter(FakeOrthancModule()).answer(output, _response(status))
    assert output.sent is not None
    sent, headers, body = output.sent
    assert sent == status
    if status == 405:
        assert headers == {"Allow": "GET"}
        return
    assert headers["Access-Control-Allow-Origin"] == "*"
    if status == 304:
        assert body == b""  # never a body: keep-alive clients would read it as the next answer
        return
    assert body == f"answer {status}\n".encode()
    assert headers["Content-Type"].startswith("text/plain")
    if status == 303:
        assert headers["Location"] == "http://example.org/next"
    if status == 503:
        assert headers["Retry-After"] == "7"


@pytest.mark.parametrize("signature", VERSIONS)
def test_the_status_signature_is_detected_once(signature: str) -> None:
    adapter = OrthancAdapter(FakeOrthancModule())
    outputs = [FakeRestOutput(signature) for _ in range(20)]
    for output in outputs:
        adapter.answer(output, text_response(404, "no such series"))
        assert output.sent is not None and output.sent[0] == 404 and output.sent[2] == b"no such series\n"
    assert sum(o.type_errors for o in outputs) == (0 if signature == "4.0" else 1)


def test_bodies_orthanc_40_cannot_take_as_a_c_string_still_go_out() -> None:
    output = FakeRestOutput("4.0")
    OrthancAdapter(FakeOrthancModule()).answer(output, Response(400, b"bad \x00 value \xff\n", "text/plain"))
    assert output.sent is not None and output.sent[0] == 400 and b"\x00" not in output.sent[2]


@pytest.mark.parametrize("status", [301, 401, 405])
def test_statuses_refused_by_the_generic_call_use_the_dedicated_ones(status: int) -> None:
    output = FakeRestOutput()
    OrthancAdapter(FakeOrthancModule()).answer(output, Response(status, b"x", "text/plain",
                                                             {"Location": "/next", "Allow": "GET"}))
    assert output.sent is not None and output.sent[0] == status


# ---- reading Orthanc: messages in our words ------------------------------------------------------------------

@pytest.mark.parametrize(("uri", "words"), [
    (f"/series/{SERIES}", f"series {SERIES}"),
    (f"/instances/{SERIES}/frames/3/raw", f"frame 3 of instance {SERIES}"),
    (f"/instances/{SERIES}/tags?short", f"the tags of instance {SERIES}"),
    (f"/studies/{SERIES}", f"study {SERIES}"),
    ("/tools/now", "an Orthanc resource"),
])
def test_orthanc_failures_name_the_resource_not_the_rest_path(uri: str, words: str) -> None:
    for code, error, status_words in ((17, NotFound, "not found"), (7, NotFound, "not found"),
                                      (13, UpstreamError, "Orthanc could not read")):
        with pytest.raises(error) as caught:
            OrthancAdapter(FakeOrthancModule(failing={"/": code})).get_bytes(uri)
        message = str(caught.value)
        assert words in message and status_words in message
        assert uri.split("?")[0] not in message and "Orthanc failed" not in message


def test_describe_resource_cuts_long_values() -> None:
    assert len(describe_resource("/series/" + "a" * 5000)) < 100


# ---- one error mapper for both route families ----------------------------------------------------------------

def _request(method: str = "GET") -> Request:
    return Request(method, f"/wsi/tiles/{SERIES}/0/0/0")


def _raising(error: BaseException):
    def handler(request: Request, app: object) -> Response:
        raise error

    return handler


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405_with_allow(method: str) -> None:
    response = dispatch(_raising(AssertionError("never called")), _request(method), SimpleNamespace())
    assert (response.status, response.headers) == (405, {"Allow": "GET"})


@pytest.mark.parametrize(("error", "status", "words"), [
    (BadRequest("must be a non-negative integer", "level"), 400, "level: must be"),
    (NotFound(f"series {SERIES} not found"), 404, f"series {SERIES}"),
    (Overloaded("too many large renders", retry_after=3), 503, "too many"),
    (UpstreamError("Orthanc could not read series x"), 502, "Orthanc could not read"),
    (ZeroDivisionError("secret internal detail"), 500, "internal error"),
    (StopIteration(), 500, "internal error"),
])
def test_errors_become_answers_in_both_route_families(error: BaseException, status: int, words: str) -> None:
    plain = dispatch(_raising(error), _request(), SimpleNamespace())
    iiif = dispatch(with_cors(_raising(error)), _request(), IIIF_APP)
    for response in (plain, iiif):
        assert response.status == status
        assert words in response.body.decode() and "secret" not in response.body.decode()
        if isinstance(error, Overloaded):
            assert response.headers["Retry-After"] == "3"
    assert iiif.headers["Access-Control-Allow-Origin"] == "*"  # IIIF errors carry CORS too (IIIF 3.0 7.1)


def test_error_response_merges_headers() -> None:
    response = error_response(Overloaded("busy", 9), _request(), CORS)
    assert response.headers == {"Retry-After": "9", **CORS}


def test_every_status_of_the_error_table_goes_out_through_the_fake() -> None:
    adapter = OrthancAdapter(FakeOrthancModule())
    for error in (BadRequest("x"), NotFound("x"), Overloaded("x"), UpstreamError("x"), ValueError("x")):
        output = FakeRestOutput()
        adapter.answer(output, dispatch(with_cors(_raising(error)), _request(), IIIF_APP))
        assert output.sent is not None and output.sent[1]["Access-Control-Allow-Origin"] == "*"


# ---- streamed answers (orthanc-python 5.0) ---------------------------------------------------------------------

BIG = bytes(range(256)) * ((STREAM_MIN_BYTES * 3 + 12345) // 256)  # not a whole number of chunks
IMAGE_HEADERS = {**CORS, "ETag": '"abc"', "Cache-Control": "private, max-age=3600"}


def _big(stream: bool = True, body: bytes = BIG, status: int = 200) -> Response:
    return Response(status, body, "image/png", dict(IMAGE_HEADERS), stream=stream)


def test_a_large_streamable_answer_is_streamed_in_chunks_with_its_headers_on_50() -> None:
    output = FakeRestOutput("5.0")
    OrthancAdapter(FakeOrthancModule("5.0")).answer(output, _big())
    assert output.streaming and output.sent is not None
    status, headers, body = output.sent
    assert status == 200 and body == BIG
    assert output.chunks == [STREAM_CHUNK_BYTES] * (len(BIG) // STREAM_CHUNK_BYTES) + [len(BIG) % STREAM_CHUNK_BYTES]
    # Everything a buffered answer carries: ours, Content-Type, plus the two Orthanc adds only when buffered.
    assert headers == {**IMAGE_HEADERS, "Content-Type": "image/png", "Content-Length": str(len(BIG)),
                       "X-Content-Type-Options": "nosniff"}
    assert not output.ignored


def test_the_same_answer_is_buffered_on_40() -> None:
    output = FakeRestOutput("4.0")
    OrthancAdapter(FakeOrthancModule("4.0")).answer(output, _big())
    assert not hasattr(output, "StartStreamAnswer")
    assert output.sent == (200, {**IMAGE_HEADERS, "Content-Type": "image/png"}, BIG) and not output.chunks


@pytest.mark.parametrize("response", [_big(stream=False), _big(body=BIG[:STREAM_MIN_BYTES - 1]),
                                      _big(status=304, body=b"")],
                         ids=["not-marked", "under-the-threshold", "not-200"])
def test_other_answers_are_buffered_on_50(response: Response) -> None:
    output = FakeRestOutput("5.0")
    OrthancAdapter(FakeOrthancModule("5.0")).answer(output, response)
    assert not output.streaming and output.sent is not None and output.sent[0] == response.status
    assert output.sent[2] == response.body and "Content-Length" not in output.sent[1]


def test_the_threshold_itself_is_streamed() -> None:
    output = FakeRestOutput("5.0")
    OrthancAdapter(FakeOrthancModule("5.0")).answer(output, _big(body=BIG[:STREAM_MIN_BYTES]))
    assert output.streaming and output.sent is not None and output.sent[2] == BIG[:STREAM_MIN_BYTES]


def test_a_client_gone_mid_stream_ends_the_answer_quietly(caplog: pytest.LogCaptureFixture) -> None:
    output = FakeRestOutput("5.0", client_reads=2 * STREAM_CHUNK_BYTES + 10)
    with caplog.at_level(logging.INFO, logger="wsi.adapter"):
        OrthancAdapter(FakeOrthancModule("5.0")).answer(output, _big())  # raises nothing: nothing left to do
    assert output.sent is not None and output.sent[2] == BIG[:2 * STREAM_CHUNK_BYTES]
    assert len(output.chunks) == 2 and not output.ignored
    assert any("cut after" in r.message and r.levelno == logging.INFO for r in caplog.records)


def test_a_refused_stream_start_is_answered_buffered() -> None:
    output = FakeRestOutput("5.0")

    def refuse(content_type: str) -> None:
        raise FakeOrthancModule.OrthancException(6, "Bad sequence of calls")

    output.StartStreamAnswer = refuse
    OrthancAdapter(FakeOrthancModule("5.0")).answer(output, _big())
    assert output.sent is not None and output.sent[0] == 200 and output.sent[2] == BIG and not output.chunks
    # Our Content-Length equals the one Orthanc adds to the buffered answer: never two different lengths.
    assert output.sent[1]["Content-Length"] == str(len(BIG))


def test_the_fake_stream_refuses_what_orthanc_refuses() -> None:
    output = FakeRestOutput("5.0")
    with pytest.raises(FakeOrthancModule.OrthancException):
        output.SendStreamChunk(b"before the start")
    with pytest.raises(TypeError):
        output.StartStreamAnswer(b"image/png")  # the content type must be a str
    output.StartStreamAnswer("image/png")
    with pytest.raises(FakeOrthancModule.OrthancException):
        output.StartStreamAnswer("image/png")
    output.SendHttpStatusCode(500)  # accepted and ignored once streaming (measured on Orthanc 1.12.7)
    assert output.sent == (200, {"Content-Type": "image/png"}, b"") and output.ignored == ["SendHttpStatusCode"]
