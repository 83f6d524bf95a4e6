"""The one place that talks to the `orthanc` module; only plain values cross it.

The module is passed in (not imported) so tests can hand a fake with the same few calls.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .errors import NotFound, UpstreamError
from .http import Request, Response

# Orthanc error codes meaning "no such resource" (orthanc.ErrorCode UNKNOWN_RESOURCE, INEXISTENT_ITEM).
_MISSING_CODES = {17, 7}


class OrthancAdapter:
    def __init__(self, orthanc: Any) -> None:
        self._orthanc = orthanc

    # ---- reading from Orthanc ---------------------------------------------------------------------
    def get_bytes(self, uri: str) -> bytes:
        """Body of an internal GET; NotFound for a missing resource, UpstreamError otherwise."""
        try:
            return bytes(self._orthanc.RestApiGet(uri))
        except self._orthanc.OrthancException as error:
            code = error.args[0] if error.args else None
            code = getattr(code, "value", code)
            if code in _MISSING_CODES:
                raise NotFound(f"{uri}: not found") from None
            raise UpstreamError(f"{uri}: {error}") from None

    def get_json(self, uri: str) -> Any:
        return json.loads(self.get_bytes(uri))

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
        )

    @staticmethod
    def answer(output: Any, response: Response) -> None:
        for name, value in response.headers.items():
            output.SetHttpHeader(name, value)
        if response.status == 200:
            output.AnswerBuffer(response.body, response.content_type)
        elif response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
            output.Redirect(response.headers["Location"])
        elif response.body and response.status >= 400:
            # orthanc-python 4.0: SendHttpStatus only accepts a str body with its length.
            text = response.body.decode("utf-8", "replace")
            output.SetHttpHeader("Content-Type", response.content_type)
            output.SendHttpStatus(response.status, text, len(text.encode()))
        else:
            output.SendHttpStatusCode(response.status)

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
