"""On-the-fly pyramid of one frame: its decoded levels, kept once, and tiles cut from them (pure).

A frame is decoded once into level 0 (grey: modality values in float32, full precision, before any VOI;
colour: RGB uint8), and each coarser level is the one above it halved by averaging 2 x 2 boxes (Pillow's
`reduce`, in C; a partial box at an odd edge averages the pixels it has). Tiles of any level, and any window,
are cut from these arrays: the VOI is applied to the tile only, so a new window costs one tile's arithmetic.

The geometry is the C++ WSI plugin 3.x's (`/wsi/frames-pyramids`): 512 x 512 tiles, levels halving until the
level fits in one tile, level z at factor 2^z. Two deliberate differences: sizes are the frame's own (3.x pads
it to multiples of 64 and shows the padding), and levels are averaged (3.x keeps every other pixel).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .display import GreyDisplay, Window
from .pyramid import Level, Pyramid

TILE_SIZE = 512
BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def level_sizes(width: int, height: int, tile: int = TILE_SIZE) -> list[tuple[int, int]]:
    """(width, height) of each level, finest first: ceil(size / 2^z) until the level fits in one tile."""
    sizes = [(width, height)]
    while max(sizes[-1]) > tile:
        w, h = sizes[-1]
        sizes.append((-(-w // 2), -(-h // 2)))
    return sizes


def frame_tile_pyramid(width: int, height: int, grey: bool) -> Pyramid:
    """The tiled pyramid of a frame (always 512-px tiles, even for a frame smaller than one tile)."""
    levels = tuple(Level(w, h, TILE_SIZE, TILE_SIZE) for w, h in level_sizes(width, height))
    return Pyramid(levels, BLACK if grey else WHITE)


def halve(pixels: np.ndarray) -> np.ndarray:
    """The next level: 2 x 2 box averages (float32 stays float32; uint8 is rounded)."""
    return np.asarray(Image.fromarray(pixels).reduce(2))


@dataclass(frozen=True)
class FrameLevels:
    """The decoded levels of one frame, finest first, and how grey ones are displayed (None: colour)."""

    levels: tuple[np.ndarray, ...]
    grey: GreyDisplay | None

    @property
    def width(self) -> int:
        return int(self.levels[0].shape[1])

    @property
    def height(self) -> int:
        return int(self.levels[0].shape[0])

    @property
    def nbytes(self) -> int:
        return sum(level.nbytes for level in self.levels)

    @property
    def pyramid(self) -> Pyramid:
        return frame_tile_pyramid(self.width, self.height, self.grey is not None)

    def region(self, level: int, x0: int, y0: int, x1: int, y1: int, chosen: Window | None = None) -> np.ndarray:
        """Pixels [y0:y1, x0:x1] of a level, displayed (uint8; grey: HxW, colour: HxWx3); clipped to the level."""
        values = self.levels[level][y0:y1, x0:x1]
        if self.grey is None:
            return values
        return self.grey.apply(values, chosen)

    def tile(self, level: int, tx: int, ty: int, chosen: Window | None = None) -> np.ndarray:
        """A full 512 x 512 tile: the level's pixels, the rest (past its right or bottom edge) background."""
        x0, y0 = tx * TILE_SIZE, ty * TILE_SIZE
        pixels = self.region(level, x0, y0, x0 + TILE_SIZE, y0 + TILE_SIZE, chosen)
        if pixels.shape[:2] == (TILE_SIZE, TILE_SIZE):
            return pixels
        fill = 0 if self.grey is not None else 255
        out = np.full((TILE_SIZE, TILE_SIZE, *pixels.shape[2:]), fill, np.uint8)
        out[:pixels.shape[0], :pixels.shape[1]] = pixels
        return out


def build_levels(level0: np.ndarray, grey: GreyDisplay | None) -> FrameLevels:
    """All levels of a frame from its decoded level 0 (grey: float32 modality values; colour: RGB uint8)."""
    levels = [level0]
    for _ in level_sizes(level0.shape[1], level0.shape[0])[1:]:
        levels.append(halve(levels[-1]))
    for level in levels:
        level.flags.writeable = False  # shared by every request: regions handed out are views
    return FrameLevels(tuple(levels), grey)
