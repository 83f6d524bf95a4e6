"""JPEG tiles of a TIFF made whole for DICOM without touching their entropy-coded data."""

from __future__ import annotations

import struct

from ..errors import BadRequest, DecodeError
from ..markers import jpeg_header, jpeg_segments

# APP14 "Adobe" with transform 0: the components are R, G, B (what the TIFF's Photometric RGB says, and what
# a decoder would otherwise take for YCbCr).
_ADOBE_RGB = b"\xff\xee" + struct.pack(">H", 14) + b"Adobe" + struct.pack(">HHHB", 100, 0, 0, 0)


def with_tables(tile: bytes, tables: bytes | None) -> bytes:
    """The tile's stream with the TIFF's shared JPEGTables (DQT, DHT) inserted after its SOI."""
    if not tables:
        return tile
    if tables[:2] != b"\xff\xd8" or tile[:2] != b"\xff\xd8":
        raise DecodeError("JPEG tables or tile without SOI")
    body = tables[2:-2] if tables[-2:] == b"\xff\xd9" else tables[2:]
    return tile[:2] + body + tile[2:]


def mark_rgb(stream: bytes) -> bytes:
    """Declare the components RGB (APP14) unless the stream already says what they are."""
    header = jpeg_header(stream)
    if header.jfif or header.adobe_transform is not None or header.component_ids == (0x52, 0x47, 0x42):
        return stream
    return stream[:2] + _ADOBE_RGB + stream[2:]


def photometric_of(stream: bytes, tiff_photometric: str) -> str:
    """DICOM PhotometricInterpretation of a 3-component baseline JPEG tile of a TIFF ("rgb" or "ycbcr").

    YCbCr with subsampled chroma is YBR_FULL_422 (PS3.5 8.2.1 for JPEG baseline), without YBR_FULL.
    """
    if tiff_photometric == "rgb":
        return "RGB"
    for marker, start, end in jpeg_segments(stream):
        if marker == 0xC0:
            body = stream[start + 4:end]
            if len(body) < 9 or body[5] != 3:
                break
            sampling = body[7]
            return "YBR_FULL_422" if sampling != 0x11 else "YBR_FULL"
    raise BadRequest("a JPEG tile is not 3-component baseline JPEG", "image")
