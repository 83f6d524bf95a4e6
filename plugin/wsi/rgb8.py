"""Decoded samples -> uint8 RGB for tiles (pure): bit depth scaled, MONOCHROME1 inverted, palette applied."""

from __future__ import annotations

import numpy as np

from .errors import UnsupportedFeature
from .pixel_format import PixelFormat


def to_rgb8(pixels: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """uint8 HxWx3 for tiles: palette applied, BitsStored range scaled linearly, MONOCHROME1 inverted."""
    if fmt.photometric == "PALETTE COLOR":
        return apply_palette(pixels, fmt)
    out = to_8_bits(pixels, fmt)
    if out.ndim == 2:
        if fmt.photometric == "MONOCHROME1":
            out = 255 - out
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.ascontiguousarray(out)


def to_8_bits(pixels: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """Scale the BitsStored range linearly to 0..255 (signed: lowest value -> 0), rounding."""
    stored = max(1, min(fmt.bits_stored, pixels.dtype.itemsize * 8))
    if pixels.dtype == np.uint8 and stored == 8:
        return pixels
    top = (1 << stored) - 1
    offset = (1 << (stored - 1)) if pixels.dtype.kind == "i" else 0
    lut = ((np.arange(top + 1, dtype=np.uint32) * 255 + top // 2) // top).astype(np.uint8)
    index = pixels.astype(np.int64) + offset if offset else pixels
    return lut[np.clip(index, 0, top)]


def apply_palette(pixels: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """PALETTE COLOR -> uint8 RGB (PS3.3 C.7.6.3.1.5: values below/above the LUT use its ends).

    Ours, not pydicom.pixels.apply_color_lut: that wants a Dataset, and wraps values past an 8-bit LUT.
    """
    if fmt.palette is None:
        raise UnsupportedFeature("PALETTE COLOR frame without palette LUT data (see PALETTE_DATA_TAGS)")
    lut = np.stack(fmt.palette, axis=1)
    if fmt.palette_bits > 8 or lut.max(initial=0) > 255:
        lut = lut >> 8
    index = np.clip(pixels.astype(np.int64) - fmt.palette_first, 0, len(lut) - 1)
    return np.ascontiguousarray(lut.astype(np.uint8)[index])
