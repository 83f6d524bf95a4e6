"""Plain request/response values that cross the Orthanc adapter (no orthanc import here)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

# Route regex pieces. Printable ASCII only: orthanc-python 4.0 answers 500 before our code runs when
# a matched URI is not valid UTF-8 (e.g. "%ff"), so such URIs must match no route (Orthanc: 404).
SEGMENT = r"([ -.0-~]*)"  # one path segment: printable ASCII but "/"
TAIL = r"([ -~]*)"  # the rest of the path


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # the URI as Orthanc gave it, e.g. "/wsi/tiles/<id>/0/1/2"
    groups: tuple[str, ...] = ()  # regex groups of the registered route
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # keys lower-case
    body: bytes = b""  # POST only (routes that accept it: a `methods` attribute, routes.dispatch)

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


class BodyFile(Protocol):
    """A body kept on disk (export/spool.py): sent in chunks, closed (and so removed) once sent."""

    @property
    def length(self) -> int: ...
    def chunks(self, size: int) -> Iterator[bytes]: ...
    def read_all(self) -> bytes: ...
    def close(self) -> None: ...


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    # The body may go out as a streamed answer where the SDK can (orthanc-python 5.0; adapter.answer decides by
    # size). Only for answers that can be large and are complete here: the status can no longer change once a
    # stream has started, so nothing is ever rendered while streaming.
    stream: bool = False
    # A 200 whose body is this file rather than `body`: streamed where the SDK can, else read whole (the handler
    # has checked its size then); the adapter closes it once the answer is sent, whatever happens.
    body_file: BodyFile | None = None


def json_response(payload: object, status: int = 200, content_type: str = "application/json",
                  headers: dict[str, str] | None = None, indent: int | None = 2) -> Response:
    """`indent=None` for large answers: Python's json encodes indented output in Python, not C (6 ms instead of
    0.3 ms for a pyramid whose frame map lists 257 sparse frames)."""
    import json

    body = json.dumps(payload, indent=indent).encode()
    return Response(status, body, content_type, dict(headers or {}))


def text_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, (message + "\n").encode(), "text/plain; charset=utf-8", dict(headers or {}))


# On every answer whose format the Accept header chose: a shared cache must not hand one client's format to another.
VARY_ACCEPT = {"Vary": "Accept"}


def immutable_cache_control(authenticated: bool) -> str:
    """For a URL whose answer never changes (it names a version): `private` when Orthanc asks for credentials,
    so no shared cache keeps what only some may see."""
    return ("private" if authenticated else "public") + ", max-age=31536000, immutable"


# Conditional GET, hand-written on purpose: werkzeug.http (parse_etags, quote_etag) would add 80-120 ms to every
# Orthanc start (its package imports its dev server and test client; measured inside the plugin's imports) for
# a comparison whose tags are our own quoted hex digests, which never hold a comma or a quote.

def content_etag(body: bytes) -> str:
    """A strong entity tag from the body's digest, quoted (RFC 9110 section 8.8.3)."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match (RFC 9110 section 13.1.2): "*", or a listed tag equal to ours by weak comparison."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags
