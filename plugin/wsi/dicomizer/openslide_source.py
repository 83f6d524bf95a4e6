"""Scanner formats (NDPI, MRXS, Philips TIFF, SCN, Ventana...) through OpenSlide 4 (openslide-bin)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from ..errors import BadRequest
from .source import Slide, check_size

BAND_ROWS = 512
_ASSOCIATED = {"label": "label", "macro": "overview", "thumbnail": "thumbnail"}


def _rgb(rgba_image) -> np.ndarray:
    """OpenSlide's RGBA (transparent where nothing was scanned) on white."""
    rgba = np.asarray(rgba_image)
    alpha = rgba[:, :, 3:4].astype(np.uint16)
    return (rgba[:, :, :3] * alpha // 255 + (255 - alpha)).astype(np.uint8)


class OpenSlideLevel:
    def __init__(self, slide, index: int) -> None:
        self._slide, self._index = slide, index
        self.width_px, self.height_px = slide.level_dimensions[index]
        check_size(self.width_px, self.height_px)
        self._downsample = slide.level_downsamples[index]
        self.tile_width_px, self.tile_height_px = self.width_px, BAND_ROWS

    def bands(self) -> Iterator[np.ndarray]:
        for top in range(0, self.height_px, BAND_ROWS):
            rows = min(BAND_ROWS, self.height_px - top)
            origin = (0, round(top * self._downsample))
            yield _rgb(self._slide.read_region(origin, self._index, (self.width_px, rows)))

    def jpeg_tiles(self):
        return None

    def jpeg_tile(self, column: int, row: int) -> bytes:
        raise NotImplementedError


def openslide_format(path: str) -> str | None:
    """The vendor OpenSlide recognises, or None (also when OpenSlide is not installed)."""
    try:
        import openslide
    except ImportError:
        return None
    try:
        return openslide.OpenSlide.detect_format(path)
    except Exception:
        return None


def open_openslide(path: str) -> Slide:
    import openslide

    try:
        slide = openslide.OpenSlide(path)
    except Exception as error:
        raise BadRequest(f"OpenSlide could not read the slide ({str(error)[:120]})", "image") from None
    properties = slide.properties
    result = Slide(levels=[OpenSlideLevel(slide, i) for i in range(slide.level_count)], closers=[slide.close])
    for name, kind in _ASSOCIATED.items():
        if name in slide.associated_images:
            result.associated[kind] = _rgb(slide.associated_images[name])
    try:
        mpp = (float(properties["openslide.mpp-x"]), float(properties["openslide.mpp-y"]))
        result.mpp = mpp if min(mpp) > 0 else None
    except (KeyError, ValueError):
        pass
    with contextlib.suppress(KeyError, ValueError):
        result.objective_power = float(properties["openslide.objective-power"])
    result.icc_profile = getattr(slide, "color_profile", None) and slide.color_profile.tobytes()
    result.description = str(properties.get("openslide.vendor", ""))
    return result
