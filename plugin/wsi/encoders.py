"""uint8 pixel arrays -> PNG, JPEG, JPEG 2000, WebP bytes with imagecodecs (pure); speeds in docs/codec.md."""

from __future__ import annotations

import io

import imagecodecs
import numpy as np
from PIL import Image

from .errors import UnsupportedFeature
from .markers import embed_icc_in_jpeg, png_with_icc


def encode_png(pixels: np.ndarray, icc: bytes | None = None, level: int = 1) -> bytes:
    """level 1 (default): zlib level 1 with the RLE strategy and SUB filter, the fastest setting measured;
    2-9: that zlib level with adaptive filters, slower and smaller (docs/codec.md); 0: stored."""
    pixels = np.ascontiguousarray(pixels)
    if level == 1:
        png = bytes(imagecodecs.png_encode(pixels, level=1, strategy=3, filter=16))
    else:
        png = bytes(imagecodecs.png_encode(pixels, level=level))
    return png_with_icc(png, icc) if icc else png


def encode_jpeg(pixels: np.ndarray, quality: int = 90, icc: bytes | None = None) -> bytes:
    jpeg = bytes(imagecodecs.jpeg8_encode(np.ascontiguousarray(pixels), level=int(quality)))
    return embed_icc_in_jpeg(jpeg, icc) if icc else jpeg


def encode_jp2(pixels: np.ndarray) -> bytes:
    """Lossless (reversible 5/3) JPEG 2000 in a JP2 box."""
    return bytes(
        imagecodecs.jpeg2k_encode(np.ascontiguousarray(pixels), codecformat="JP2", reversible=True)
    )


def encode_webp(pixels: np.ndarray, quality: int = 90) -> bytes:
    # method 0: 4-7x faster than the default for a few % larger files (docs/codec.md). Lossy at
    # `quality`: imagecodecs' default here is lossless, 3x slower and +170 MB for 10 MP (docs/limits.md).
    return bytes(imagecodecs.webp_encode(_rgb_or_rgba(pixels), level=quality, method=0, lossless=False))


def encode_webp_lossless(pixels: np.ndarray, icc: bytes | None = None) -> bytes:
    """Exact pixels, method 0 and effort 0: on slide tiles about 1.5x fewer bytes than our level-1 PNG for 1.6x
    its time (docs/codec.md). With an ICC profile through Pillow, which embeds it (imagecodecs cannot); without,
    imagecodecs (the same libwebp call, minus Pillow's copy of the pixels: 0.7 ms a 512x512 tile)."""
    rgb = _rgb_or_rgba(pixels)
    if not icc:
        return bytes(imagecodecs.webp_encode(rgb, level=0, method=0, lossless=True))
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "WEBP", lossless=True, exact=True, method=0, quality=0, icc_profile=icc)
    return out.getvalue()


def _rgb_or_rgba(pixels: np.ndarray) -> np.ndarray:
    """WebP has no grey mode: grey repeated into RGB, grey + alpha into RGBA."""
    if pixels.ndim == 3 and pixels.shape[2] in (1, 2):
        grey, alpha = pixels[:, :, 0], pixels[:, :, 1:]
        return np.ascontiguousarray(np.concatenate([np.repeat(grey[:, :, None], 3, axis=2), alpha], axis=2))
    if pixels.ndim == 2:
        return np.ascontiguousarray(np.repeat(pixels[:, :, None], 3, axis=2))
    return np.ascontiguousarray(pixels)


def _packed(pixels: np.ndarray) -> np.ndarray:
    """Pixels in a buffer with canonical row-major strides, copied only when they are not.

    imagecodecs checks the strides themselves; numpy calls a view C-contiguous whatever the stride of a
    length-1 axis, and quarter rotations of one-pixel-thin regions hand over exactly such views.
    """
    canonical = tuple(int(np.prod(pixels.shape[i + 1:], dtype=np.int64)) * pixels.itemsize
                      for i in range(pixels.ndim))
    return pixels if pixels.flags.c_contiguous and pixels.strides == canonical else pixels.copy(order="C")


ENCODABLE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/jp2", "image/webp")


def encode(pixels: np.ndarray, media_type: str, icc: bytes | None = None, quality: int = 90,
           png_level: int = 1) -> bytes:
    """Encode uint8 pixels; ICC is embedded in PNG and JPEG only."""
    pixels = _packed(pixels)
    if media_type == "image/jpeg":
        return encode_jpeg(pixels, quality, icc)
    if media_type == "image/png":
        return encode_png(pixels, icc, png_level)
    if media_type == "image/jp2":
        return encode_jp2(pixels)
    if media_type == "image/webp":
        return encode_webp(pixels, quality)
    raise UnsupportedFeature(f"no encoder for {media_type}")
