"""Pyramid geometry: levels finest first, downsample factors, choosing a level for a scale (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# A level is kept when its width and height ratios to the full image agree within this
# fraction; levels written with rounding (ceil vs floor) differ by a pixel or so.
LEVEL_RATIO_TOLERANCE = 0.02


@dataclass(frozen=True)
class Level:
    width: int  # TotalPixelMatrixColumns
    height: int  # TotalPixelMatrixRows
    tile_width: int  # Columns
    tile_height: int  # Rows
    pixel_spacing_mm: tuple[float, float] | None = None  # (column spacing = x, row spacing = y)

    @property
    def tiles_x(self) -> int:
        return -(-self.width // self.tile_width)

    @property
    def tiles_y(self) -> int:
        return -(-self.height // self.tile_height)


@dataclass(frozen=True)
class Pyramid:
    levels: tuple[Level, ...]  # finest (index 0) to coarsest
    background_rgb: tuple[int, int, int] = (255, 255, 255)
    imaged_volume_mm: tuple[float, float] | None = None  # (width, height)

    @property
    def width(self) -> int:
        return self.levels[0].width

    @property
    def height(self) -> int:
        return self.levels[0].height

    def downsample(self, index: int) -> float:
        """Full width over level width, as the C++ plugin's "Resolutions"."""
        return self.width / self.levels[index].width

    def downsample_xy(self, index: int) -> tuple[float, float]:
        level = self.levels[index]
        return self.width / level.width, self.height / level.height

    @property
    def background_hex(self) -> str:
        r, g, b = self.background_rgb
        return f"#{r:02x}{g:02x}{b:02x}"


def consistent_levels(levels: list[Level]) -> list[Level]:
    """Drop levels whose x and y downsample factors disagree (not a level of this image).

    A level written with rounding is up to one pixel off in each direction, hence the slack.
    """
    if not levels:
        return []
    base = levels[0]
    kept = [base]
    for level in levels[1:]:
        fx, fy = base.width / level.width, base.height / level.height
        slack = LEVEL_RATIO_TOLERANCE * max(fx, fy) + max(fx, fy) / min(level.width, level.height)
        if abs(fx - fy) <= slack:
            kept.append(level)
    return kept


def choose_level(pyramid: Pyramid, scale: float) -> int:
    """Coarsest level still at least as detailed as `scale` (output px per full-resolution px)."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    best = 0
    for index in range(len(pyramid.levels)):
        # A small slack keeps a level usable when rounding made it a pixel short.
        if pyramid.downsample(index) <= (1.0 / scale) * (1 + 1e-3):
            best = index
    return best


def power_of_two_levels(pyramid: Pyramid, tolerance: float = LEVEL_RATIO_TOLERANCE) -> list[tuple[int, int]]:
    """(level index, power-of-two factor) for levels whose downsample is such a power, within tolerance."""
    found: list[tuple[int, int]] = []
    for index in range(len(pyramid.levels)):
        factor = pyramid.downsample(index)
        power = 2 ** max(0, round(math.log2(factor)))
        is_power = abs(factor - power) <= tolerance * power
        if is_power and (not found or found[-1][1] != power):
            found.append((index, power))
    return found
