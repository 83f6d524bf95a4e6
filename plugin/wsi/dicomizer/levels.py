"""Which levels are written, at which size, and how: copied JPEG tiles, encoded source pixels, or generated."""

from __future__ import annotations

from dataclasses import dataclass

from .options import DicomizeOptions
from .source import Slide, SourceLevel

DEFAULT_TILE_PX = 512


@dataclass(frozen=True)
class LevelPlan:
    width_px: int
    height_px: int
    source: SourceLevel | None  # None: generated from the level above by halving
    copy: bool  # the source's JPEG tiles go in as they are

    @property
    def generated(self) -> bool:
        return self.source is None

    def tiles(self, tile: tuple[int, int]) -> int:
        return -(-self.width_px // tile[0]) * -(-self.height_px // tile[1])


def tile_size(slide: Slide, options: DicomizeOptions) -> tuple[int, int]:
    if options.tile_size_px:
        return options.tile_size_px, options.tile_size_px
    base = slide.levels[0]
    if options.compression == "keep" and base.jpeg_tiles() is not None:
        return base.tile_width_px, base.tile_height_px
    return DEFAULT_TILE_PX, DEFAULT_TILE_PX


def plan_levels(slide: Slide, options: DicomizeOptions, tile: tuple[int, int]) -> list[LevelPlan]:
    """The source's levels (finest first), then halvings of the last down to one tile (or `levels` in all)."""
    wanted = options.levels
    plans = []
    for level in slide.levels[:wanted] if wanted else slide.levels:
        jpeg = level.jpeg_tiles()
        copy = (options.compression == "keep" and jpeg is not None
                and (level.tile_width_px, level.tile_height_px) == tile)
        plans.append(LevelPlan(level.width_px, level.height_px, level, copy))
    width, height = plans[-1].width_px, plans[-1].height_px
    while (len(plans) < wanted) if wanted else (width > tile[0] or height > tile[1]):
        if width == 1 and height == 1:
            break
        width, height = -(-width // 2), -(-height // 2)
        plans.append(LevelPlan(width, height, None, False))
    return plans
