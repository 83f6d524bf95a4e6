"""How a stored JPEG tile is coded, and re-encoding pixels the same way (pure).

A TIFF level holds one Photometric and one YCbCrSubSampling for all its tiles, and OpenSlide decodes each
JPEG tile in the colour space the Photometric tag names (FACTS.md). So a level takes the coding of its first
stored tile; every tile coded that way is copied as stored, any other is decoded and re-encoded in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagecodecs
import numpy as np

from ..codec import PixelFormat, can_pass_through_jpeg
from ..errors import DecodeError
from ..markers import jpeg_header, jpeg_segments, stream_colour

# The chroma subsamplings a TIFF can declare for JPEG tiles (YCbCrSubSampling, as tifffile accepts them).
TIFF_SUBSAMPLINGS = {(1, 1), (2, 1), (2, 2), (4, 1)}
_SOF_BASELINE_EXTENDED = (0xC0, 0xC1)


@dataclass(frozen=True)
class JpegCoding:
    """The coding of a level's JPEG tiles: colour "RGB" or "YCbCr", (horizontal, vertical) chroma subsampling."""

    colour: str
    subsampling: tuple[int, int] = (1, 1)

    @property
    def tiff_colour(self) -> str:
        return "RGB" if self.colour == "RGB" else "YCBCR"


# Tiles the export encodes itself (sources other than JPEG): YCbCr without chroma subsampling, the finest
# colour a JPEG TIFF tile can carry.
DEFAULT_CODING = JpegCoding("YCbCr", (1, 1))


def sampling_factors(data: bytes) -> tuple[tuple[int, int], ...]:
    """(H, V) sampling factors of each component, from the frame header (SOF)."""
    for marker, start, end in jpeg_segments(data):
        if marker in _SOF_BASELINE_EXTENDED or marker in (0xC2, 0xC3):
            body = bytes(data[start + 4:end])
            count = body[5] if len(body) > 5 else 0
            factors = body[6 + 1:6 + 3 * count:3]
            return tuple((value >> 4, value & 0x0F) for value in factors)
    raise DecodeError("JPEG stream without a frame header")


def stored_coding(fmt: PixelFormat, data: bytes) -> JpegCoding | None:
    """The coding of a stored frame when a TIFF can carry it as it is; None when it must be re-encoded.

    Only 8-bit baseline/extended 3-component frames whose colour is known pass: what the stream declares
    (JFIF, Adobe, R/G/B ids), else what the DICOM label says, as our decoder reads them (decoders.py).
    """
    if fmt.samples_per_pixel != 3 or not can_pass_through_jpeg(fmt, data):
        return None
    try:
        header = jpeg_header(data)
        factors = sampling_factors(data)
    except DecodeError:
        return None
    if header.sof not in _SOF_BASELINE_EXTENDED or len(factors) != 3:
        return None
    colour = stream_colour(header) or ("RGB" if fmt.photometric == "RGB" else "YCbCr")
    (h, v), chroma = factors[0], factors[1:]
    if any(c != (1, 1) for c in chroma):
        return None  # chroma sampled finer than 1: no TIFF subsampling says that
    subsampling = (h, v)
    if subsampling not in TIFF_SUBSAMPLINGS or (colour == "RGB" and subsampling != (1, 1)):
        return None
    return JpegCoding(colour, subsampling)


def encode_tile(pixels: np.ndarray, coding: JpegCoding, quality: int) -> bytes:
    """RGB pixels as a complete JPEG stream in `coding` (its own tables: TIFF JPEGTables are optional)."""
    return bytes(imagecodecs.jpeg8_encode(
        np.ascontiguousarray(pixels), level=quality, colorspace="RGB", outcolorspace=coding.colour.upper(),
        subsampling=coding.subsampling))
