"""Byte-level work on encoded images (pure): JPEG header segments and colour markers, ICC profiles
embedded into JPEG (APP2) and PNG (iCCP) streams without re-encoding them."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from .errors import DecodeError


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each header segment up to and including SOS's header; cheap."""
    if data[:2] != b"\xff\xd8":
        raise DecodeError("not a JPEG stream (no SOI)")
    segments, pos = [], 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise DecodeError(f"bad JPEG marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack_from(">H", data, pos + 2)[0]
        segments.append((marker, pos, pos + 2 + length))
        if marker == 0xDA:
            break
        pos += 2 + length
    return segments


@dataclass(frozen=True)
class JpegHeader:
    sof: int  # 0xC0 baseline, 0xC1 extended, 0xC2 progressive, 0xC3 lossless, ...
    precision: int
    component_ids: tuple[int, ...]
    jfif: bool
    adobe_transform: int | None
    height: int = 0
    width: int = 0
    components: int = 0  # as the SOF declares it (component_ids holds those actually present)
    length: int = 0  # leading bytes these facts were read from (through SOS's length field); 0: no SOS found


def jpeg_header(data: bytes) -> JpegHeader:
    """The facts of a JPEG stream's header, from the segments jpeg_segments finds.

    Ours, not Pillow's Image.open: it is 3.5x slower per tile on the pass-through path (24 vs 7 us) and does not
    tell lossless or arithmetic-coded streams from baseline ones (measured, docs/codec.md). Every stored frame
    sent as it is goes through here, so only the segments read are copied (not the tables).
    """
    sof, precision, ids, jfif, adobe, height, width, count, length = 0, 0, (), False, None, 0, 0, 0, 0
    for marker, pos, end in jpeg_segments(data):
        if marker == 0xE0:
            jfif = jfif or bytes(data[pos + 4 : min(end, pos + 9)]) == b"JFIF\0"
        elif marker == 0xEE:
            head = bytes(data[pos + 4 : min(end, pos + 16)])  # data may be any buffer (a memoryview in the fuzz)
            if head.startswith(b"Adobe") and len(head) >= 12:
                adobe = head[11]
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            body = bytes(data[pos + 4 : end])
            if len(body) >= 6:
                sof, precision, height, width, count = marker, *struct.unpack_from(">BHHB", body)
                ids = tuple(body[6 : 6 + 3 * count : 3])  # each component's id (a short body: those present)
        elif marker == 0xDA:
            length = pos + 4
    return JpegHeader(sof, precision, ids, jfif, adobe, height, width, count, length)


def jpeg_stream_colour(data: bytes) -> str | None:
    """Colour space a 3-component stream declares, as libjpeg reads it; None when it declares nothing."""
    return stream_colour(jpeg_header(data))


def stream_colour(header: JpegHeader) -> str | None:
    """jpeg_stream_colour of a header already read."""
    if header.jfif:
        return "YCbCr"
    if header.adobe_transform is not None:
        return "RGB" if header.adobe_transform == 0 else "YCbCr"
    if header.component_ids == (0x52, 0x47, 0x42):  # 'R', 'G', 'B'
        return "RGB"
    return None


def png_with_icc(png: bytes, icc: bytes) -> bytes:
    """Insert an iCCP chunk right after IHDR (PNG spec 11.3.3.3: before PLTE and IDAT)."""
    ihdr_end = 8 + 4 + 4 + 13 + 4
    if png[12:16] != b"IHDR":
        raise ValueError("PNG does not start with IHDR")
    body = b"ICC profile\0\0" + zlib.compress(icc, 6)  # name, NUL, compression method 0
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body
    chunk += struct.pack(">I", zlib.crc32(b"iCCP" + body) & 0xFFFFFFFF)
    return png[:ihdr_end] + chunk + png[ihdr_end:]


_ICC_MARKER = b"ICC_PROFILE\0"
_ICC_CHUNK = 65519  # 65535 - 2 (length) - 12 (signature) - 2 (sequence, count)


def embed_icc_in_jpeg(jpeg: bytes, icc: bytes) -> bytes:
    """Add APP2 ICC_PROFILE segments (ICC.1 B.4) after SOI/APP0/APP1, dropping old ones; no re-encoding."""
    chunks = [icc[i : i + _ICC_CHUNK] for i in range(0, len(icc), _ICC_CHUNK)]
    if not chunks or len(chunks) > 255:
        raise ValueError(f"ICC profile of {len(icc)} bytes cannot be embedded")
    app2 = b"".join(
        b"\xff\xe2" + struct.pack(">H", 2 + 14 + len(c)) + _ICC_MARKER + bytes((i + 1, len(chunks))) + c
        for i, c in enumerate(chunks)
    )
    segments = jpeg_segments(jpeg)
    kept = [s for s in segments if not (s[0] == 0xE2 and jpeg[s[1] + 4 : s[1] + 16] == _ICC_MARKER)]
    lead = 0
    while lead < len(kept) and kept[lead][0] in (0xE0, 0xE1):
        lead += 1
    head = b"".join(jpeg[s:e] for _, s, e in kept[:lead])
    tail = b"".join(jpeg[s:e] for _, s, e in kept[lead:])
    rest = segments[-1][2] if segments else 2
    return b"\xff\xd8" + head + app2 + tail + jpeg[rest:]
