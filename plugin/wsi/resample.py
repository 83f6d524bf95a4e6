"""A region of one pyramid level resampled to an output size, band by band, in bounded memory.

Stitching a whole region first held every source pixel at once: a IIIF full/max of a 12000 x 9000
slide with levels 1, 4, 16 stitched 108 megapixels (324 MB) for a 3651 x 2738 answer. Here each tile
is first reduced by an integer factor k that divides the tile size (a box filter: Pillow's `reduce`),
chosen so that the reduced region stays at least as large as the output, hence less than twice the
output on each axis when the tile size has the divisor needed (powers of two always do). Then bands of
output rows are resampled (Lanczos, as before) from the reduced rows they need plus the filter's
margin, so the result is the same as resampling the whole reduced region at once. Held at once: the
output, one band of reduced rows and one row of reduced tiles. Each tile is read once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image

from .pyramid import Level

TileReader = Callable[[int, int, int], np.ndarray]  # (level, tx, ty) -> uint8 HxW or HxWxC
Check = Callable[[], None]  # raises when the request is over its time budget

BAND_SOURCE_ROWS = 256  # reduced source rows resampled per band, on top of the filter's margin
LANCZOS_SUPPORT = 3.0  # Pillow's Lanczos kernel reaches 3 source pixels each side (times the reduction)


def _never() -> None:
    return None


def reduction_factor(level: Level, ratio: float) -> int:
    """Largest integer k <= ratio (source px per output px) that divides both tile sides."""
    for k in range(max(1, int(ratio + 1e-9)), 1, -1):
        if level.tile_width % k == 0 and level.tile_height % k == 0:
            return k
    return 1


def blank(height: int, width: int, like: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """Background-filled pixels shaped like `like` (grey or colour)."""
    if like.ndim == 2:
        return np.full((height, width), round(sum(background) / 3), dtype=np.uint8)
    out = np.empty((height, width, like.shape[2]), dtype=np.uint8)
    out[...] = np.asarray(background[: like.shape[2]], dtype=np.uint8)
    return out


class ReducedRows:
    """Rows of a level reduced by k (columns cx0..cx1 of the reduced level), read one row of tiles at a
    time and kept only while a band may still need them."""

    def __init__(self, read_tile: TileReader, level_index: int, level: Level, k: int, columns: tuple[int, int],
                 background: tuple[int, int, int], check: Check) -> None:
        self._read, self._index, self._level, self._k = read_tile, level_index, level, k
        self._cx0, self._cx1 = columns
        self._background, self._check = background, check
        self._rows: np.ndarray | None = None
        self._top = 0  # reduced row of self._rows[0]

    def take(self, y0: int, y1: int) -> np.ndarray:
        """Reduced rows y0..y1 (y0 never decreases between calls)."""
        if self._rows is not None:
            end = self._top + len(self._rows)
            if y0 >= end:
                self._rows = None  # nothing buffered is needed any more
            elif y0 > self._top:
                self._rows = self._rows[y0 - self._top:]
                self._top = y0
        while self._rows is None or self._top + len(self._rows) < y1:
            start = y0 if self._rows is None else self._top + len(self._rows)
            strip, strip_top = self._strip(start * self._k // self._level.tile_height)
            strip = strip[max(0, start - strip_top):]
            if self._rows is None:
                self._rows, self._top = strip, start
            else:
                self._rows = np.concatenate((self._rows, strip))
        return self._rows[y0 - self._top:y1 - self._top]

    def _strip(self, ty: int) -> tuple[np.ndarray, int]:
        """(the reduced rows of tile row ty, the first row's index)."""
        level, k = self._level, self._k
        tw, th = level.tile_width, level.tile_height
        top = ty * th // k
        bottom = min(top + th // k, -(-level.height // k))
        strip: np.ndarray | None = None
        for tx in range(self._cx0 * k // tw, (self._cx1 * k - 1) // tw + 1):
            self._check()
            ox, oy = tx * tw, ty * th
            # Stored edge tiles are padded: drop what lies beyond the level before averaging.
            tile = np.asarray(self._read(self._index, tx, ty))[: level.height - oy, : level.width - ox]
            if k > 1:
                tile = np.asarray(Image.fromarray(tile).reduce(k))
            if strip is None:
                strip = blank(bottom - top, self._cx1 - self._cx0, tile, self._background)
            left = ox // k
            x0, x1 = max(left, self._cx0), min(left + tile.shape[1], self._cx1)
            rows = min(tile.shape[0], bottom - top)
            if x1 > x0:
                strip[:rows, x0 - self._cx0:x1 - self._cx0] = tile[:rows, x0 - left:x1 - left]
        assert strip is not None  # every strip touches at least one tile
        return strip, top


def resample_region(read_tile: TileReader, level_index: int, level: Level,
                    box: tuple[float, float, float, float], size: tuple[int, int],
                    background: tuple[int, int, int], check: Check = _never) -> np.ndarray:
    """Pixels of `box` (x0, y0, x1, y1 in the level's fractional pixels) resampled to `size` (w, h)."""
    out_w, out_h = size
    lx0, ly0, lx1, ly1 = box
    k = reduction_factor(level, min((lx1 - lx0) / out_w, (ly1 - ly0) / out_h))
    reduced_w, reduced_h = -(-level.width // k), -(-level.height // k)
    bx0, by0, bx1, by1 = lx0 / k, ly0 / k, lx1 / k, ly1 / k
    cx0, cy0 = min(math.floor(bx0), reduced_w - 1), min(math.floor(by0), reduced_h - 1)
    cx1 = max(cx0 + 1, min(reduced_w, math.ceil(bx1)))
    cy1 = max(cy0 + 1, min(reduced_h, math.ceil(by1)))
    rows = ReducedRows(read_tile, level_index, level, k, (cx0, cx1), background, check)
    exact = (bx0, by0, bx1 - bx0, by1 - by0) == (cx0, cy0, out_w, out_h)  # a plain crop
    step = (by1 - by0) / out_h  # reduced rows per output row
    margin = 0 if exact else math.ceil(LANCZOS_SUPPORT * max(step, 1.0)) + 1
    band = max(1, min(out_h, int(BAND_SOURCE_ROWS / step)))
    out: np.ndarray | None = None
    for j0 in range(0, out_h, band):
        check()
        j1 = min(out_h, j0 + band)
        top, bottom = by0 + j0 * step, (by1 if j1 == out_h else by0 + j1 * step)
        need0 = max(cy0, math.floor(top) - margin)
        need1 = min(cy1, max(need0 + 1, math.ceil(bottom) + margin))
        pixels = rows.take(need0, need1)
        if exact:
            part = pixels
        else:
            # The filter sees the same neighbours as in one whole resize: the margin holds them.
            part = np.asarray(Image.fromarray(pixels).resize(
                (out_w, j1 - j0), Image.Resampling.LANCZOS, box=(bx0 - cx0, top - need0, bx1 - cx0, bottom - need0)))
        if out is None:
            out = np.empty((out_h, out_w, *part.shape[2:]), np.uint8)
        out[j0:j1] = part
    assert out is not None
    return out
