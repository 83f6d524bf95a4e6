"""Whether a stored JPEG frame may go to a browser as it is, without decoding (pure, microseconds)."""

from __future__ import annotations

from .errors import DecodeError
from .markers import JpegHeader, jpeg_header, stream_colour
from .pixel_format import PixelFormat
from .transfer_syntaxes import JPEG_BASELINE, JPEG_EXTENDED

# (samples, photometric) a browser shows right from the JPEG stream alone; MONOCHROME1 needs inverting.
_BROWSER_COLOURS = {(1, "MONOCHROME2"), (3, "YBR_FULL_422"), (3, "YBR_FULL"), (3, "RGB")}


def can_pass_through_jpeg(fmt: PixelFormat, data: bytes | None = None) -> bool:
    """True when a browser would show the stored frame right as it is (8-bit JPEG, known colours).

    Without `data`, whether the format's frames may pass through: the answer with the frame's bytes
    decides (an RGB label needs markers that declare RGB, see docs/codec.md).
    """
    if data is None:
        return _format_passes(fmt)
    return frame_verdict(fmt, data)[0]


def frame_verdict(fmt: PixelFormat, data: bytes) -> tuple[bool, int]:
    """can_pass_through_jpeg(fmt, data), and how many leading bytes of `data` decided it: a frame of the same
    format starting with those same bytes gets the same answer (0: the answer is not to be reused)."""
    if not _format_passes(fmt):
        return False, 0
    try:
        header = jpeg_header(data)
    except DecodeError:
        return False, 0
    return _header_passes(fmt, header), header.length


def _format_passes(fmt: PixelFormat) -> bool:
    if fmt.transfer_syntax not in (JPEG_BASELINE, JPEG_EXTENDED):
        return False
    if fmt.bits_allocated != 8 or fmt.bits_stored != 8 or fmt.pixel_representation:
        return False
    return (fmt.samples_per_pixel, fmt.photometric) in _BROWSER_COLOURS


def _header_passes(fmt: PixelFormat, header: JpegHeader) -> bool:
    if header.sof not in (0xC0, 0xC1, 0xC2) or header.precision != 8:
        return False  # lossless, arithmetic or 12-bit streams: browsers do not decode them
    if not header.components == len(header.component_ids) == fmt.samples_per_pixel:
        return False
    if fmt.rows and fmt.columns and (header.height, header.width) != (fmt.rows, fmt.columns):
        return False  # a header lying about its size goes to the decoder's guard, not to browsers
    return fmt.photometric != "RGB" or stream_colour(header) is not None
