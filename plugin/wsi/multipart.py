"""multipart/form-data bodies (RFC 7578) split into parts by offsets: a slide of a gigabyte is never copied."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import BadRequest

_BOUNDARY = re.compile(r'boundary="?([^";]{1,70})"?', re.IGNORECASE)
_DISPOSITION = re.compile(rb'(name|filename)="([^"]*)"', re.IGNORECASE)
MAX_PARTS = 8


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    start: int  # the part's content is body[start:end]
    end: int


def is_multipart(content_type: str) -> bool:
    """multipart/form-data never reaches a plugin: Orthanc 1.10 answers it itself (one upload per part), so a
    browser's FormData cannot be used; multipart/mixed and multipart/related (RFC 2046, 2387) do."""
    return content_type.lower().startswith(("multipart/mixed", "multipart/related", "multipart/form-data"))


def split_parts(body: bytes, content_type: str) -> list[Part]:
    match = _BOUNDARY.search(content_type)
    if not match:
        raise BadRequest("multipart/form-data without a boundary", "Content-Type")
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts: list[Part] = []
    position = body.find(delimiter)
    if position < 0:
        raise BadRequest("no part found in the multipart body", "body")
    while len(parts) < MAX_PARTS:
        position += len(delimiter)
        if body[position:position + 2] == b"--":
            return parts
        header_end = body.find(b"\r\n\r\n", position)
        next_delimiter = body.find(b"\r\n" + delimiter, header_end)
        if header_end < 0 or next_delimiter < 0:
            raise BadRequest("the multipart body is cut short", "body")
        fields = dict((k.lower(), v) for k, v in _DISPOSITION.findall(body[position:header_end][:2000]))
        filename = fields.get(b"filename")
        parts.append(Part(fields.get(b"name", b"").decode("utf-8", "replace"),
                          filename.decode("utf-8", "replace") if filename is not None else None,
                          header_end + 4, next_delimiter))
        position = next_delimiter + 2
    raise BadRequest(f"more than {MAX_PARTS} parts in the multipart body", "body")
