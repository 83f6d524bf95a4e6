"""Orthanc's REST API over HTTP, as the OrthancReader the SlideService reads through (for the command).

The same calls the plugin makes inside Orthanc (series, instance tags, `/instances/{id}/frames/{n}/raw`), so
the command works against any Orthanc, with or without this plugin. One keep-alive connection, opened again
when the server closed it.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from typing import Any

from ..adapter import describe_resource
from ..errors import BadRequest, NotFound, UpstreamError

TIMEOUT_SECONDS = 60


class HttpOrthanc:
    def __init__(self, url: str, username: str | None = None, password: str | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadRequest(f"not an http(s) URL: {url!r}", "--orthanc")
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._prefix = parts.path.rstrip("/")  # Orthanc behind a reverse proxy at a sub-path
        self._headers = {"Connection": "keep-alive"}
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = kind(self._host, self._port, timeout=TIMEOUT_SECONDS)
        return self._connection

    def open(self, uri: str) -> http.client.HTTPResponse:
        """A GET's response, its status checked (NotFound, UpstreamError); the caller reads the body."""
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.request("GET", self._prefix + uri, headers=self._headers)
                response = connection.getresponse()
                break
            except (http.client.HTTPException, BrokenPipeError, ConnectionResetError) as error:
                self.close()  # the server closed a kept-alive connection: once more on a new one
                if attempt == 2:
                    raise UpstreamError(f"Orthanc at {self._host} did not answer: {error}") from None
            except OSError as error:  # refused, unknown host, timeout
                self.close()
                raise UpstreamError(f"cannot reach Orthanc at {self._host}: {error}") from None
        if response.status == 404:
            response.read()
            raise NotFound(f"{describe_resource(uri)} not found")
        if response.status != 200:
            detail = response.read()[:200].decode("utf-8", "replace").strip()
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            what = "credentials refused" if response.status == 401 else f"HTTP {response.status}"
            raise UpstreamError(f"Orthanc could not read {describe_resource(uri)} ({what}): {detail}")
        return response

    def get_bytes(self, uri: str) -> bytes:
        response = self.open(uri)
        body = response.read()
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return body

    def get_json(self, uri: str) -> Any:
        return json.loads(self.get_bytes(uri))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
