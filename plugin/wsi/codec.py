"""The codec's public face: frame bytes -> samples -> uint8 RGB, and pass-through; names re-exported.

The work is in small modules, read in this order (docs/codec.md says why each rule is as it is):
transfer_syntaxes (UIDs), pixel_format (what the tags say), stream_headers (header guards),
decoders (one table per transfer syntax), native_frames (uncompressed layouts), colour (YBR, Lab, ICC),
rgb8 (samples -> 8-bit RGB), passthrough (stored JPEG to the browser as it is).
"""

from __future__ import annotations

from .decoders import decode_frame
from .native_frames import cut_native_frame, native_frame_size, orthanc_cannot_split
from .passthrough import can_pass_through_jpeg, frame_verdict
from .pixel_format import PALETTE_DATA_TAGS, PixelFormat
from .rgb8 import to_rgb8
from .transfer_syntaxes import (
    DEFLATED_LE,
    EXPLICIT_BE,
    EXPLICIT_LE,
    HTJ2K,
    HTJ2K_LOSSLESS,
    HTJ2K_LOSSLESS_RPCL,
    IMPLICIT_LE,
    JPEG2000,
    JPEG2000_LOSSLESS,
    JPEG_BASELINE,
    JPEG_EXTENDED,
    JPEG_LOSSLESS,
    JPEG_LOSSLESS_SV1,
    JPEG_LS_LOSSLESS,
    JPEG_LS_NEAR,
    JPEGXL,
    JPEGXL_JPEG,
    JPEGXL_LOSSLESS,
    RLE_LOSSLESS,
)

__all__ = [
    "DEFLATED_LE", "EXPLICIT_BE", "EXPLICIT_LE", "HTJ2K", "HTJ2K_LOSSLESS", "HTJ2K_LOSSLESS_RPCL", "IMPLICIT_LE",
    "JPEG2000", "JPEG2000_LOSSLESS", "JPEGXL", "JPEGXL_JPEG", "JPEGXL_LOSSLESS", "JPEG_BASELINE", "JPEG_EXTENDED",
    "JPEG_LOSSLESS", "JPEG_LOSSLESS_SV1", "JPEG_LS_LOSSLESS", "JPEG_LS_NEAR", "PALETTE_DATA_TAGS", "RLE_LOSSLESS",
    "PixelFormat", "can_pass_through_jpeg", "cut_native_frame", "decode_frame", "frame_verdict", "native_frame_size",
    "orthanc_cannot_split", "to_rgb8",
]
