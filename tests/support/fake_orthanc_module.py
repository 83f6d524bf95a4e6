"""A fake `orthanc` module: the SDK itself, under our adapter, refusing what the real one refuses.

It answers the calls plugin/wsi_plugin.py and plugin/wsi/adapter.py make, the way orthanc-python 4.0 (Debian 12)
or 5.0 (Debian 13) does, as measured by tests/support/orthanc_surface_probe.py in a real Orthanc: a call with the
wrong number of arguments raises orthanc-python's own TypeError, the generic status calls refuse the statuses
Orthanc 1.10+ keeps for dedicated calls, a missing resource raises OrthancException(17, ...). The drift check
(tests/integration/test_orthanc_sdk_surface.py) compares this fake with the real module, so a change in the SDK
or a new call in our code that the fake does not know fails a test.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Callable
from functools import wraps
from typing import Any

VERSIONS = ("4.0", "5.0")


class OrthancException(Exception):
    """args: (error code as an int, message), as orthanc-python raises it."""


class ErrorCode:
    INEXISTENT_ITEM = 7
    UNKNOWN_RESOURCE = 17


class ChangeType:
    DELETED = 1
    NEW_INSTANCE = 3
    STABLE_SERIES = 8
    ORTHANC_STOPPED = 11


class DroppedConnection(Exception):
    """What Orthanc does with a status its generic calls refuse: an error, then no answer at all."""


def _sdk(arity: int) -> Callable:
    """orthanc-python parses the arguments first and names the count it wanted when they do not fit."""

    def decorate(method: Callable) -> Callable:
        @wraps(method)
        def checked(self: Any, *args: Any) -> Any:
            if len(args) != arity:
                raise TypeError(f"Bad types for the arguments ({arity} arguments expected)")
            return method(self, *args)

        return checked

    return decorate


def _require(condition: bool, arity: int) -> None:
    if not condition:
        raise TypeError(f"Bad types for the arguments ({arity} arguments expected)")


class RestOutput:
    """orthanc.RestOutput. `sent` is what the client receives: (status, headers, body), None until answered.

    SendHttpStatus is (status, str, length in bytes) in orthanc-python 4.0 and (status, bytes) in 5.0. The
    generic status calls refuse 301, 401 and 405 (Orthanc: "Please use the dedicated methods").

    Streamed answers, 5.0 only (4.0 has neither name), as Orthanc 1.12.7 does them (measured):
    StartStreamAnswer(content type) sends status 200 and the headers set so far; each SendStreamChunk(buffer)
    sends its bytes. Either call out of order raises OrthancException(6, "Bad sequence of calls") and sends
    nothing; once streaming, SetHttpHeader, AnswerBuffer and SendHttpStatusCode are accepted and do nothing.
    After `client_reads` bytes the client is gone: the next chunk raises OrthancException(9, ...).
    """

    REFUSED = (301, 401, 405)

    def __init__(self, version: str = "4.0", client_reads: int | None = None) -> None:
        if version not in VERSIONS:
            raise ValueError(f"orthanc-python {version}: not one of {VERSIONS}")
        self.version = version
        self.headers: dict[str, str] = {}
        self.sent: tuple[int, dict[str, str], bytes] | None = None
        self.type_errors = 0
        self.streaming = False  # a streamed answer has started: the calls below are then ignored
        self.ignored: list[str] = []
        self.chunks: list[int] = []  # the size of each chunk streamed
        self.client_reads = client_reads
        if version != "4.0":  # the SDK's method names
            self.StartStreamAnswer = self._start_stream_answer
            self.SendStreamChunk = self._send_stream_chunk

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        if self.sent is not None:
            raise AssertionError("a second answer to one request")
        self.sent = (status, dict(self.headers if headers is None else headers), body)

    def _ignored_while_streaming(self, call: str) -> bool:
        if self.streaming:
            self.ignored.append(call)
        return self.streaming

    @_sdk(2)
    def SetHttpHeader(self, name: str, value: str) -> None:  # the SDK's method names
        _require(isinstance(name, str) and isinstance(value, str), 2)
        if not self._ignored_while_streaming("SetHttpHeader"):
            self.headers[name] = value

    @_sdk(2)
    def AnswerBuffer(self, body: bytes, content_type: str) -> None:
        _require(isinstance(body, bytes | bytearray | memoryview) and isinstance(content_type, str), 2)
        if not self._ignored_while_streaming("AnswerBuffer"):
            self._send(200, bytes(body), {**self.headers, "Content-Type": content_type})

    @_sdk(1)
    def SendHttpStatusCode(self, status: int) -> None:
        _require(isinstance(status, int), 1)
        if self._ignored_while_streaming("SendHttpStatusCode"):
            return
        if status in self.REFUSED:
            raise DroppedConnection(status)
        self._send(status, b"")

    def SendHttpStatus(self, *args: Any) -> None:
        if self.version == "4.0":
            fits = len(args) == 3 and isinstance(args[0], int) and isinstance(args[1], str) \
                and isinstance(args[2], int)
            arity = 3
        else:
            fits = len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], bytes | bytearray | str)
            arity = 2
        if not fits:
            self.type_errors += 1
            raise TypeError(f"Bad types for the arguments ({arity} arguments expected)")
        status = args[0]
        body = args[1].encode()[: args[2]] if self.version == "4.0" else (
            args[1].encode() if isinstance(args[1], str) else bytes(args[1]))
        if status in self.REFUSED:
            raise DroppedConnection(status)
        self._send(status, body)

    @_sdk(1)
    def SendMethodNotAllowed(self, allowed: str) -> None:
        _require(isinstance(allowed, str), 1)
        self._send(405, b"", {"Allow": allowed})  # Orthanc drops the other headers and any body

    @_sdk(1)
    def Redirect(self, location: str) -> None:
        _require(isinstance(location, str), 1)
        self._send(301, b"", {"Location": location})  # always 301; the headers set before are dropped

    @_sdk(1)
    def SendUnauthorized(self, realm: str) -> None:
        _require(isinstance(realm, str), 1)
        self._send(401, b"", {"WWW-Authenticate": realm})

    @_sdk(1)
    def _start_stream_answer(self, content_type: str) -> None:
        _require(isinstance(content_type, str), 1)
        if self.sent is not None:
            raise OrthancException(6, "Bad sequence of calls")
        self._send(200, b"", {**self.headers, "Content-Type": content_type})
        self.streaming = True

    @_sdk(1)
    def _send_stream_chunk(self, chunk: bytes) -> None:
        _require(isinstance(chunk, bytes | bytearray | memoryview | str), 1)
        if not self.streaming or self.sent is None:
            raise OrthancException(6, "Bad sequence of calls")
        data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
        status, headers, body = self.sent
        if self.client_reads is not None and len(body) + len(data) > self.client_reads:
            raise OrthancException(9, "Error in the network protocol")
        self.sent = (status, headers, body + data)
        self.chunks.append(len(data))


class FakeOrthancModule(types.ModuleType):
    """Stands in for `import orthanc`: routes, configuration, REST resources (bytes by URI), logs, changes.

    `failing` maps a URI prefix to the error code Orthanc raises for it (e.g. 13, INEXISTENT_FILE: a storage
    file gone); any other URI not in `resources` is an unknown resource.
    """

    OrthancException = OrthancException
    ErrorCode = ErrorCode
    ChangeType = ChangeType
    RestOutput = RestOutput

    def __init__(self, version: str = "4.0", configuration: dict | None = None,
                 resources: dict[str, bytes] | None = None, failing: dict[str, int] | None = None) -> None:
        super().__init__("orthanc")
        self.version = version
        self.configuration = configuration if configuration is not None else {}
        self.resources = resources if resources is not None else {}
        self.failing = failing if failing is not None else {}
        self.routes: list[tuple[str, Callable]] = []
        self.change_callbacks: list[Callable] = []
        self.explorer: list[str] = []
        self.log: list[str] = []
        self.posted: list[tuple[str, bytes]] = []  # (uri, body) of every RestApiPost

    # ---- the SDK's functions ----------------------------------------------------------------------
    @_sdk(1)
    def RestApiGet(self, uri: str) -> bytes:
        _require(isinstance(uri, str), 1)
        for prefix, code in self.failing.items():
            if uri.startswith(prefix):
                raise OrthancException(code, f"Orthanc failed on {uri}")  # its detail, never for a client
        if uri not in self.resources:
            raise OrthancException(ErrorCode.UNKNOWN_RESOURCE, "Unknown resource")
        return self.resources[uri]

    @_sdk(2)
    def RestApiPost(self, uri: str, body: bytes) -> bytes:
        """POST /instances stores the body under a new id (the DICOM-izer's jobs, the annotations); `failing`
        prefixes raise as for a GET; every call is kept in `posted`."""
        _require(isinstance(uri, str) and isinstance(body, bytes | bytearray | memoryview), 2)
        for prefix, code in self.failing.items():
            if uri.startswith(prefix):
                raise OrthancException(code, f"Orthanc failed on {uri}")
        if uri != "/instances":
            raise OrthancException(ErrorCode.UNKNOWN_RESOURCE, "Unknown resource")
        self.posted.append((uri, bytes(body)))
        instance = f"fake-{len(self.resources):08d}"
        self.resources[f"/instances/{instance}/file"] = bytes(body)
        return json.dumps({"ID": instance, "ParentSeries": "fake-series", "Status": "Success"}).encode()

    @_sdk(1)
    def RestApiDelete(self, uri: str) -> None:
        _require(isinstance(uri, str), 1)
        if self.resources.pop(uri + "/file", None) is None:
            raise OrthancException(ErrorCode.UNKNOWN_RESOURCE, "Unknown resource")

    @_sdk(0)
    def GetConfiguration(self) -> str:
        return json.dumps(self.configuration)

    @_sdk(1)
    def LogError(self, message: str) -> None:
        _require(isinstance(message, str), 1)
        self.log.append(message)

    LogWarning = LogInfo = LogError

    def RegisterRestCallback(self, *args: Any) -> None:
        if len(args) != 2 or not isinstance(args[0], str) or not callable(args[1]):
            raise ValueError("Expected a string (URI) and a callback function")
        self.routes.append((args[0], args[1]))

    def RegisterOnChangeCallback(self, *args: Any) -> None:
        if len(args) != 1 or not callable(args[0]):
            raise ValueError("Expected a callback function to register one Python on-changes callback")
        self.change_callbacks.append(args[0])

    @_sdk(1)
    def ExtendOrthancExplorer(self, javascript: str) -> None:
        _require(isinstance(javascript, str), 1)
        self.explorer.append(javascript)

    # ---- driving it, as Orthanc would ---------------------------------------------------------------
    def call(self, method: str, uri: str, headers: dict[str, str] | None = None,
             query: dict[str, str] | None = None, body: bytes = b"") -> RestOutput:
        """One HTTP request through the first route whose pattern matches the whole URI, as Orthanc does."""
        for pattern, callback in self.routes:
            match = re.fullmatch(pattern, uri)
            if match:
                output = RestOutput(self.version)
                # What orthanc-python passes (measured): `get` for GET only, `body` for POST and PUT.
                request: dict[str, Any] = {"method": method, "groups": match.groups(),
                                           "headers": {k.lower(): v for k, v in (headers or {}).items()}}
                if method == "GET":
                    request["get"] = dict(query or {})
                elif method in ("POST", "PUT"):
                    request["body"] = body
                callback(output, uri, **request)
                return output
        raise AssertionError(f"no route for {uri}")

    def change(self, change_type: int, level: int, resource_id: str) -> None:
        for callback in self.change_callbacks:
            callback(change_type, level, resource_id)
