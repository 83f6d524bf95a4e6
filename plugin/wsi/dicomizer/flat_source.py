"""PNG, JPEG and other single images through Pillow: one level, held in memory (hence its own pixel limit)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np

from ..errors import BadRequest
from .source import Slide, check_size, to_rgb

# 128 Mpx (384 MB as RGB); tiled TIFFs are read tile by tile and have no such limit. Under Pillow's own bomb
# limit (2 x 89 Mpx), which is left as it is for the rest of the plugin.
MAX_FLAT_PIXELS = 1 << 27
BAND_ROWS = 512


class FlatLevel:
    def __init__(self, pixels: np.ndarray) -> None:
        self._pixels = pixels
        self.height_px, self.width_px = pixels.shape[:2]
        self.tile_width_px, self.tile_height_px = self.width_px, BAND_ROWS

    def bands(self) -> Iterator[np.ndarray]:
        for top in range(0, self.height_px, BAND_ROWS):
            yield self._pixels[top:top + BAND_ROWS]

    def jpeg_tiles(self):
        return None

    def jpeg_tile(self, column: int, row: int) -> bytes:
        raise NotImplementedError


def open_flat(path: str) -> Slide:
    from PIL import Image

    try:
        image = Image.open(path)
    except Image.DecompressionBombError:
        raise BadRequest(f"the image is over {MAX_FLAT_PIXELS} pixels (single images are decoded whole; tile it "
                         "as a TIFF)", "image") from None
    except Exception:
        raise BadRequest("not an image Pillow, tifffile or OpenSlide can read", "image") from None
    with image:
        width, height = image.size
        check_size(width, height)
        if width * height > MAX_FLAT_PIXELS:
            raise BadRequest(f"a {image.format} image of {width}x{height} pixels is over {MAX_FLAT_PIXELS} pixels "
                             "(single images are decoded whole; tile it as a TIFF)", "image")
        try:
            if image.mode not in ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "1"):
                image = image.convert("RGBA" if "A" in image.mode else "RGB")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our limit above holds
                pixels = to_rgb(np.asarray(image))
        except (OSError, ValueError, SyntaxError) as error:
            raise BadRequest(f"the {image.format} image could not be decoded ({str(error)[:100]})", "image") \
                from None
        icc = image.info.get("icc_profile")
    return Slide(levels=[FlatLevel(pixels)], icc_profile=icc or None)
