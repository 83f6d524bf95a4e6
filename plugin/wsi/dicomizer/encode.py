"""Tile encoders: (transfer syntax, photometric interpretation, lossy?) and a function from RGB to bytes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import imagecodecs
import numpy as np

from .jpeg_streams import photometric_of

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"


@dataclass(frozen=True)
class TileCodec:
    transfer_syntax: str
    photometric: str
    lossy: bool
    method: str  # LossyImageCompressionMethod when lossy
    encode: Callable[[np.ndarray], bytes]


def tile_codec(compression: str, quality: int) -> TileCodec:
    """The codec of tiles the DICOM-izer encodes itself ("keep" encodes what cannot be copied as JPEG)."""
    if compression == "jpeg2000":
        return TileCodec(JPEG2000_LOSSLESS, "YBR_RCT", False, "",
                         lambda tile: bytes(imagecodecs.jpeg2k_encode(tile, codecformat="J2K", reversible=True,
                                                                      mct=True)))
    if compression == "none":
        return TileCodec(EXPLICIT_LITTLE, "RGB", False, "", lambda tile: np.ascontiguousarray(tile).tobytes())

    def jpeg(tile: np.ndarray) -> bytes:
        return bytes(imagecodecs.jpeg8_encode(tile, level=quality))

    photometric = photometric_of(jpeg(np.zeros((16, 16, 3), np.uint8)), "ycbcr")
    return TileCodec(JPEG_BASELINE, photometric, True, "ISO_10918_1", jpeg)
