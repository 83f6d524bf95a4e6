"""The one place that talks to the `orthanc` module; only plain values cross it.

The module is passed in (not imported) so tests can hand a fake with the same few calls.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .errors import NotFound, UpstreamError
from .http import Request, Response

_RESOURCE_KINDS = {"series": "series", "instances": "instance", "studies": "study", "patients": "patient"}

# Streamed answers (orthanc-python 5.0; measured on Orthanc 1.12.7, docs/ARCHITECTURE.md "Streamed answers"):
# Orthanc closes the connection after one, so only bodies this large are streamed, where a new connection
# costs little next to the transfer. Chunks are slices of the finished body (no copy); 256 KiB to 4 MiB
# chunks sent 30 MB equally fast.
STREAM_MIN_BYTES = 1 << 20
STREAM_CHUNK_BYTES = 256 << 10

log = logging.getLogger(__name__)


def describe_resource(uri: str) -> str:
    """An internal REST path in our words ("frame 3 of instance <id>"), for messages clients see."""
    parts = uri.split("?", 1)[0].strip("/").split("/")
    kind = _RESOURCE_KINDS.get(parts[0])
    if kind is None or len(parts) < 2:
        return "an Orthanc resource"
    subject = f"{kind} {parts[1][:60]}"
    if len(parts) >= 4 and parts[2] == "frames":
        return f"frame {parts[3][:12]} of {subject}"
    if len(parts) >= 3:
        return f"the {parts[2][:20]} of {subject}"
    return subject


class OrthancAdapter:
    def __init__(self, orthanc: Any) -> None:
        self._orthanc = orthanc
        # The error codes meaning "no such resource"; OrthancException carries the code as an int (measured in
        # orthanc-python 4.0 and 5.0 by tests/integration/test_orthanc_sdk_surface.py).
        self._missing_codes = {int(self._orthanc.ErrorCode.UNKNOWN_RESOURCE),
                               int(self._orthanc.ErrorCode.INEXISTENT_ITEM)}
        # orthanc-python 4.0 takes SendHttpStatus(status, str, length), 5.0 (status, bytes): None until known.
        self._status_takes_length: bool | None = None

    # ---- reading from Orthanc ---------------------------------------------------------------------
    def get_bytes(self, uri: str) -> bytes:
        """Body of an internal GET; NotFound for a missing resource, UpstreamError otherwise.

        Messages name the resource in our words: internal REST paths never reach a client.
        """
        try:
            return bytes(self._orthanc.RestApiGet(uri))
        except self._orthanc.OrthancException as error:
            if error.args and error.args[0] in self._missing_codes:
                raise NotFound(f"{describe_resource(uri)} not found") from None
            log.info("Orthanc failed on GET %s: %s", uri, error)  # the client sees our words; this is the detail
            raise UpstreamError(f"Orthanc could not read {describe_resource(uri)}") from None

    def get_json(self, uri: str) -> Any:
        return json.loads(self.get_bytes(uri))

    def store_instance(self, dicom: bytes) -> dict:
        """POST /instances: Orthanc's answer (ID, ParentSeries, Status); UpstreamError when it refuses."""
        try:
            answer = json.loads(self._orthanc.RestApiPost("/instances", dicom))
        except self._orthanc.OrthancException as error:
            log.info("Orthanc refused an instance: %s", error)
            raise UpstreamError(f"Orthanc refused to store an instance ({str(error)[:120]})") from None
        if not isinstance(answer, dict) or "ID" not in answer:
            raise UpstreamError("Orthanc stored no instance")
        return answer

    def delete_instance(self, instance_id: str) -> None:
        """DELETE /instances/{id}; an instance already gone is fine."""
        try:
            self._orthanc.RestApiDelete(f"/instances/{instance_id}")
        except self._orthanc.OrthancException as error:
            if not (error.args and error.args[0] in self._missing_codes):
                raise UpstreamError(f"Orthanc could not delete instance {instance_id[:60]}") from None

    def configuration(self) -> dict:
        return json.loads(self._orthanc.GetConfiguration())

    # ---- HTTP boundary ----------------------------------------------------------------------------
    @staticmethod
    def to_request(uri: str, request: dict) -> Request:
        return Request(
            method=request.get("method", "GET"),
            path=uri,
            groups=tuple(g or "" for g in request.get("groups", ())),
            query=dict(request.get("get", {}) or {}),
            headers=request.get("headers") or {},  # orthanc-python already lower-cases the keys
            body=(request.get("body") or b"") if request.get("method") == "POST" else b"",
        )

    def answer(self, output: Any, response: Response) -> None:
        """Send a response the way Orthanc 1.10 accepts each status (measured in tests/integration/test_statuses.py).

        The generic status calls refuse 301 and 405 (and 401 in some Orthanc versions): the request would
        then end with no answer at all, so those go through their dedicated calls. A large 200 marked
        `stream` is a streamed answer where the SDK has them (`_stream`).
        """
        status = response.status
        if status == 405:
            # Orthanc drops every other header and the body here: only "Allow" reaches the client.
            output.SendMethodNotAllowed(response.headers.get("Allow", "GET"))
            return
        if status == 401:
            output.SendUnauthorized(response.headers.get("WWW-Authenticate", 'Basic realm="Orthanc"'))
            return
        if status == 301:
            output.Redirect(response.headers.get("Location", "/"))  # clears the headers set before it
            return
        if response.body_file is not None:
            self._answer_file(output, response)
            return
        for name, value in response.headers.items():
            output.SetHttpHeader(name, value)
        if status == 200 and self._streams(output, response):
            self._stream(output, response)
        elif status == 200:
            output.AnswerBuffer(response.body, response.content_type)
        elif status == 304 or not response.body:
            # 304 never has a body (RFC 9110 15.4.5): with one, Orthanc announces its length but the client
            # reads none, and the next answer on the keep-alive connection starts with stale bytes.
            output.SendHttpStatusCode(status)
        else:
            output.SetHttpHeader("Content-Type", response.content_type)
            self._send_status(output, status, response.body)

    def can_stream(self) -> bool:
        """Whether this orthanc-python has streamed answers (5.0+; not 4.0)."""
        return hasattr(getattr(self._orthanc, "RestOutput", None), "SendStreamChunk")

    def _answer_file(self, output: Any, response: Response) -> None:
        """A 200 whose body is a file on disk: chunk by chunk where the SDK streams, else whole. Closed after."""
        body = response.body_file
        assert body is not None
        try:
            for name, value in response.headers.items():
                output.SetHttpHeader(name, value)
            if not hasattr(output, "SendStreamChunk"):  # 4.0: one buffer, whose size the handler bounded
                whole = body.read_all()
                body.close()  # the disk space back before the answer goes out
                output.AnswerBuffer(whole, response.content_type)
                return
            length = body.length
            output.SetHttpHeader("Content-Length", str(length))
            output.SetHttpHeader("X-Content-Type-Options", "nosniff")
            output.StartStreamAnswer(response.content_type)
            sent = 0
            for chunk in body.chunks(STREAM_CHUNK_BYTES):
                try:
                    output.SendStreamChunk(chunk)
                except self._orthanc.OrthancException as error:
                    log.info("streamed file cut after %d of %d bytes (client gone?): %s", sent, length, error)
                    return
                sent += len(chunk)
        finally:
            body.close()

    @staticmethod
    def _streams(output: Any, response: Response) -> bool:
        """A large answer marked streamable, and an SDK with streamed answers (orthanc-python 5.0, not 4.0)."""
        return response.stream and len(response.body) >= STREAM_MIN_BYTES and hasattr(output, "SendStreamChunk")

    def _stream(self, output: Any, response: Response) -> None:
        """The finished body in chunks, each a slice of it.

        Orthanc passes our Content-Length through (the client can tell a cut answer and show progress) and,
        unlike for a buffered answer, adds no X-Content-Type-Options: both are set here. Once the first chunk
        is out the answer cannot change; a chunk refused then means the client went away or stopped reading
        for Orthanc's HttpRequestTimeout: nothing more can be sent, so that is logged, not raised.
        """
        body = memoryview(response.body)
        output.SetHttpHeader("Content-Length", str(len(body)))
        output.SetHttpHeader("X-Content-Type-Options", "nosniff")
        try:
            output.StartStreamAnswer(response.content_type)
        except Exception as error:  # nothing is sent yet: buffered, Orthanc's Content-Length then equals ours
            log.warning("streamed answer refused (%r): sent buffered", error)
            output.AnswerBuffer(response.body, response.content_type)
            return
        for start in range(0, len(body), STREAM_CHUNK_BYTES):
            try:
                output.SendStreamChunk(body[start:start + STREAM_CHUNK_BYTES])
            except self._orthanc.OrthancException as error:
                log.info("streamed answer cut after %d of %d bytes (client gone?): %s", start, len(body), error)
                return

    def _send_status(self, output: Any, status: int, body: bytes) -> None:
        """Status with a body through the generic call, whichever orthanc-python signature this is."""
        if self._status_takes_length is not False:
            # 4.0 parses the body as a C string: text without NUL, and its length in UTF-8 bytes.
            text = body.decode("utf-8", "replace").replace("\0", "")
            try:
                output.SendHttpStatus(status, text, len(text.encode()))
                self._status_takes_length = True
                return
            except TypeError:
                if self._status_takes_length:
                    raise
                # 5.0+: (status, buffer). A refused argument list sends nothing, so the retry is safe.
                self._status_takes_length = False
        output.SendHttpStatus(status, body)

    # ---- registration -----------------------------------------------------------------------------
    def register_route(self, pattern: str, callback: Any) -> None:
        self._orthanc.RegisterRestCallback(pattern, callback)

    def extend_explorer(self, javascript: str) -> None:
        self._orthanc.ExtendOrthancExplorer(javascript)


class OrthancLogHandler(logging.Handler):
    """Forwards standard logging to Orthanc's log."""

    def __init__(self, orthanc: Any) -> None:
        super().__init__()
        self._orthanc = orthanc

    def emit(self, record: logging.LogRecord) -> None:
        message = f"[wsi] {self.format(record)}"
        if record.levelno >= logging.ERROR:
            self._orthanc.LogError(message)
        elif record.levelno >= logging.WARNING:
            self._orthanc.LogWarning(message)
        else:
            self._orthanc.LogInfo(message)
