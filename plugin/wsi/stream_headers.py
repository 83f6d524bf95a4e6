"""Cheap reads of what a compressed frame declares (size, components, bits) and a check against the tags.

Why: decoders allocate their output from the stream's own header before decoding a byte of it. A JPEG
frame whose SOF claims 65000 x 65000 made libjpeg allocate 12 GB and grind for a minute (measured in
plain Python: 65 s, 12 GB peak RSS), a JPEG 2000 SIZ with the same claim got the process OOM-killed.
DICOM says every frame is Rows x Columns with SamplesPerPixel samples (PS3.5 8.2), and decode_frame
refuses any other decoded shape anyway, so a frame whose header disagrees is refused before decoding.
Headers read: JPEG SOF (ITU T.81 B.2.2), JPEG-LS SOF55 (ITU T.87 C.2.2), JPEG 2000 / HTJ2K SIZ
(ITU T.800 A.5.1), JPEG XL SizeHeader (ISO/IEC 18181-1 D.2); about 1-5 microseconds per frame.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass

from .errors import DecodeError
from .markers import jpeg_segments
from .transfer_syntaxes import J2K_FAMILY, JPEG_FAMILY, JXL_FAMILY, RLE_LOSSLESS

# Frames larger than this are refused whatever the tags say (a 16-bit RGB frame of this size is 768 MB); the
# setting WholeSlideImaging.MaxFramePixels passes its own value down (docs/limits.md).
DEFAULT_MAX_FRAME_PIXELS = 1 << 27  # 134 M pixels, e.g. 11585 x 11585


@dataclass(frozen=True)
class StreamHeader:
    """What a compressed frame declares; components/bits are 0 where the header does not say cheaply."""

    kind: str
    width: int
    height: int
    components: int = 0
    bits: int = 0


def read_stream_header(data: bytes, transfer_syntax: str) -> StreamHeader | None:
    """The declared size of a compressed frame; None for syntaxes without a cheap header (native, RLE).

    Raises DecodeError when the header is missing or cut short.
    """
    if transfer_syntax in JPEG_FAMILY:
        return _jpeg_header(data)
    if transfer_syntax in J2K_FAMILY:
        return _j2k_header(data)
    if transfer_syntax in JXL_FAMILY:
        return _jxl_header(data)
    return None


def check_stream(data: bytes, transfer_syntax: str, rows: int, columns: int, samples: int,
                 bits_allocated: int, max_pixels: int = DEFAULT_MAX_FRAME_PIXELS) -> None:
    """DecodeError unless the frame's header agrees with the DICOM tags (0 rows/columns: unknown)."""
    if not data:
        raise DecodeError("stored frame refused: it is empty")
    try:
        header = read_stream_header(data, transfer_syntax)
    except DecodeError as error:
        raise DecodeError(f"stored frame refused: {error}") from None
    if transfer_syntax == RLE_LOSSLESS:
        _check_rle_header(data, samples * max(1, bits_allocated // 8))
    if header is None:
        return
    what = f"stored frame refused: its {header.kind} header"
    if header.width * header.height > max_pixels:
        raise DecodeError(f"{what} declares {header.width} x {header.height} pixels, over the limit of {max_pixels} "
                          "(WholeSlideImaging.MaxFramePixels)")
    declared, tagged = (header.height, header.width), (rows, columns)
    if header.kind == "JPEG XL":  # its orientation field may transpose the decoded image
        declared, tagged = tuple(sorted(declared)), tuple(sorted(tagged))
    if rows and columns and declared != tagged:
        raise DecodeError(f"{what} declares {header.width} x {header.height} pixels, the tags {columns} x {rows}")
    if header.components and header.components != samples:
        raise DecodeError(f"{what} declares {header.components} components, the tags {samples} samples")
    if header.bits and not 1 <= header.bits <= bits_allocated:
        raise DecodeError(f"{what} declares {header.bits} bits, the tags {bits_allocated} bits allocated")


# ---- JPEG, JPEG-LS --------------------------------------------------------------------------------

def _jpeg_header(data: bytes) -> StreamHeader:
    for marker, start, end in jpeg_segments(data):
        frame_header = (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)) or marker == 0xF7
        if frame_header:
            if end - start < 10 or end > len(data):
                raise DecodeError("JPEG frame header cut short")
            precision, height, width, count = struct.unpack_from(">BHHB", data, start + 4)
            kind = "JPEG-LS" if marker == 0xF7 else "JPEG"
            if height == 0:  # a DNL marker would give it later: no decoder we use supports that
                raise DecodeError(f"{kind} header declares no height")
            # CharLS 2.4 spends 8-14 s on some streams cut short, whatever the image size (measured);
            # with the end marker there it fails at once. libjpeg decodes a cut stream as far as it goes.
            if kind == "JPEG-LS" and not bytes(data[-64:]).rstrip(b"\0").endswith(b"\xff\xd9"):
                raise DecodeError("JPEG-LS stream cut short (no end-of-image marker)")
            return StreamHeader(kind, width, height, count, precision)
    raise DecodeError("JPEG stream without a frame header (SOF)")


# ---- RLE ---------------------------------------------------------------------------------------------

def _check_rle_header(data: bytes, segments: int) -> None:
    """PS3.5 G.3.1: segment count and 15 offsets (little endian); one segment per sample byte.

    imagecodecs 2026.3.6's dicomrle_decode reads past the end of its input when an offset points beyond
    the data (measured: SIGBUS/SIGSEGV on a frame cut after its header), so offsets are checked here.
    """
    if len(data) < 64:
        raise DecodeError(f"stored frame refused: RLE header cut short ({len(data)} bytes)")
    count, *offsets = struct.unpack_from("<16I", data)
    if count != segments:
        raise DecodeError(f"stored frame refused: RLE header declares {count} segments, the tags {segments}")
    used = offsets[:count]
    if used[0] != 64 or any(b <= a for a, b in itertools.pairwise(used)) or used[-1] >= len(data):
        raise DecodeError(f"stored frame refused: RLE segment offsets {used} do not fit {len(data)} bytes")


# ---- JPEG 2000, HTJ2K -----------------------------------------------------------------------------

_SOC_SIZ = b"\xff\x4f\xff\x51"
_SIZ_SEARCH_BYTES = 4096  # a JP2/JPH wrapper puts a few boxes before the codestream


def _j2k_header(data: bytes) -> StreamHeader:
    start = bytes(data[:_SIZ_SEARCH_BYTES]).find(_SOC_SIZ)
    if start < 0:
        raise DecodeError("JPEG 2000 stream without SOC and SIZ markers")
    fixed = start + 4  # Lsiz
    if len(data) < fixed + 38:
        raise DecodeError("JPEG 2000 SIZ segment cut short")
    _lsiz, _rsiz, xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">HHIIII", data, fixed)
    count = struct.unpack_from(">H", data, fixed + 36)[0]
    depths = data[fixed + 38:fixed + 38 + 3 * count:3]
    if count == 0 or len(depths) < count:
        raise DecodeError("JPEG 2000 SIZ segment cut short")
    bits = max((d & 0x7F) + 1 for d in depths)
    return StreamHeader("JPEG 2000", max(0, xsiz - xosiz), max(0, ysiz - yosiz), count, bits)


# ---- JPEG XL --------------------------------------------------------------------------------------

_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"
_JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}


class _Bits:
    """Least significant bit first, as JPEG XL packs its headers."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data[:16], "little")  # the SizeHeader needs at most 11 bytes
        self._left = 8 * min(len(data), 16)

    def read(self, count: int) -> int:
        if count > self._left:
            raise DecodeError("JPEG XL size header cut short")
        value = self._value & ((1 << count) - 1)
        self._value >>= count
        self._left -= count
        return value

    def u32_size(self) -> int:
        return self.read((9, 13, 18, 30)[self.read(2)]) + 1


def _jxl_codestream(data: bytes) -> bytes:
    if bytes(data[: len(_JXL_CONTAINER)]) != _JXL_CONTAINER:
        return data
    pos = 0
    while pos + 8 <= len(data):  # ISO BMFF boxes: the codestream is in jxlc, or split over jxlp
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1 and pos + 16 <= len(data):
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        if kind == b"jxlc":
            return data[pos + header:]
        if kind == b"jxlp":
            return data[pos + header + 4:]
        if size < header:
            break
        pos += size
    raise DecodeError("JPEG XL container without a codestream box")


def _jxl_header(data: bytes) -> StreamHeader:
    stream = _jxl_codestream(data)
    if bytes(stream[:2]) != b"\xff\x0a":
        raise DecodeError("JPEG XL stream without its signature")
    bits = _Bits(stream[2:])
    small = bits.read(1)
    height = (bits.read(5) + 1) * 8 if small else bits.u32_size()
    ratio = bits.read(3)
    if ratio:
        num, den = _JXL_RATIOS[ratio]
        width = height * num // den
    else:
        width = (bits.read(5) + 1) * 8 if small else bits.u32_size()
    return StreamHeader("JPEG XL", width, height)
