"""A series as the export writes it: its levels, each level's tiles as JPEG streams, its associated images.

Everything is read through the SlideService's FrameSource (one cache owner): stored frames through its
single-flight raw reads (not cached: an export reads each once), decoded tiles through its pixel cache.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..frame_source import FrameSource, Tile
from ..pyramid import Level
from ..resample import resample_region
from ..series import LevelModel, SeriesModel
from ..service import SlideService
from ..transfer_syntaxes import JPEG_BASELINE, JPEG_EXTENDED
from .jpeg_tiles import DEFAULT_CODING, JpegCoding, encode_tile, stored_coding
from .options import ExportOptions

log = logging.getLogger(__name__)

_JPEG_SYNTAXES = (JPEG_BASELINE, JPEG_EXTENDED)

TIFF_TILE_MULTIPLE = 16  # TIFF 6.0: TileWidth and TileLength are multiples of 16
RETILE = 256  # tile side of a level whose stored tiles a TIFF cannot hold (sides not multiples of 16)
THUMBNAIL_MAX = 1024  # longest side of a thumbnail made when the series has none


@dataclass
class ExportCounts:
    copied: int = 0  # stored JPEG tiles written as stored
    encoded: int = 0  # tiles decoded (or background) and encoded by the export

    def as_dict(self) -> dict[str, int]:
        return {"copied": self.copied, "encoded": self.encoded}


@dataclass(frozen=True)
class LevelPlan:
    index: int
    level: Level
    coding: JpegCoding
    tile: tuple[int, int]  # (width, height) of the TIFF's tiles: the stored tiles', unless re-tiled

    @property
    def retiled(self) -> bool:
        return self.tile != (self.level.tile_width, self.level.tile_height)

    @property
    def tiles_x(self) -> int:
        return -(-self.level.width // self.tile[0])

    @property
    def tiles_y(self) -> int:
        return -(-self.level.height // self.tile[1])


@dataclass
class SlideExport:
    """One series, one optical path and focal plane, ready to be written."""

    service: SlideService
    model: SeriesModel
    options: ExportOptions
    counts: ExportCounts = field(default_factory=ExportCounts)

    def __post_init__(self) -> None:
        # Validated against the series: BadRequest naming the parameter.
        self.path, self.plane = FrameSource.select(self.model, self.options.optical_path, self.options.focal_plane)

    @property
    def frames(self) -> FrameSource:
        return self.service.frames

    # ---- pyramid levels ---------------------------------------------------------------------------
    def levels(self) -> list[LevelPlan]:
        plans = []
        for index, lm in enumerate(self.model.levels):
            lv = lm.level
            if lv.tile_width % TIFF_TILE_MULTIPLE or lv.tile_height % TIFF_TILE_MULTIPLE:
                plans.append(LevelPlan(index, lv, DEFAULT_CODING, (RETILE, RETILE)))
            else:
                plans.append(LevelPlan(index, lv, self._coding(index), (lv.tile_width, lv.tile_height)))
        return plans

    def _tile(self, level: int, tx: int, ty: int) -> Tile:
        return self.frames.tile(self.model, level, tx, ty, self.path, self.plane)

    def _stored(self, tile: Tile) -> tuple[bytes, JpegCoding | None]:
        assert tile.ref is not None
        raw = self.frames.raw_frame(*tile.ref, self.model.versions.get(tile.ref[0], ""), tile.fmt)
        return raw, None if tile.fmt is None else stored_coding(tile.fmt, raw)

    def _coding(self, level: int) -> JpegCoding:
        """The level's coding: its first stored tile's when a TIFF can carry it, else our own."""
        lv = self.model.levels[level].level
        for ty in range(lv.tiles_y):
            for tx in range(lv.tiles_x):
                tile = self._tile(level, tx, ty)
                if tile.ref is not None:
                    if tile.fmt is None or tile.fmt.transfer_syntax not in _JPEG_SYNTAXES:
                        return DEFAULT_CODING  # not JPEG: nothing to copy
                    return self._stored(tile)[1] or DEFAULT_CODING
        return DEFAULT_CODING

    def tiles(self, plan: LevelPlan) -> Iterator[bytes]:
        """The level's tiles in TIFF order (rows of columns), each a complete JPEG stream in the level's coding."""
        lv = plan.level
        if plan.retiled:
            for oy in range(plan.tiles_y):
                for ox in range(plan.tiles_x):
                    self.counts.encoded += 1
                    yield encode_tile(self._region(plan, ox, oy), plan.coding, self.options.quality)
            return
        for ty in range(lv.tiles_y):
            for tx in range(lv.tiles_x):
                yield self._tile_bytes(plan, self._tile(plan.index, tx, ty))

    def _region(self, plan: LevelPlan, ox: int, oy: int) -> np.ndarray:
        """TIFF tile (ox, oy) of a re-tiled level, pasted from the stored tiles it overlaps (decoded through the
        pixel cache, where a tile read for the row above is usually still found), background beyond the image."""
        lv, (tw, th) = plan.level, plan.tile
        x0, y0 = ox * tw, oy * th
        x1, y1 = min(x0 + tw, lv.width), min(y0 + th, lv.height)
        out = np.empty((th, tw, 3), np.uint8)
        out[:] = self.model.background_rgb
        for ty in range(y0 // lv.tile_height, (y1 - 1) // lv.tile_height + 1):
            for tx in range(x0 // lv.tile_width, (x1 - 1) // lv.tile_width + 1):
                pixels = self.frames.tile_rgb(self._tile(plan.index, tx, ty))
                if pixels.ndim == 2:
                    pixels = pixels[:, :, None]
                left, top = tx * lv.tile_width, ty * lv.tile_height
                ax0, ay0 = max(x0, left), max(y0, top)
                ax1, ay1 = min(x1, left + pixels.shape[1]), min(y1, top + pixels.shape[0])
                if ax1 > ax0 and ay1 > ay0:
                    out[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0] = pixels[ay0 - top:ay1 - top, ax0 - left:ax1 - left]
        return out

    def _tile_bytes(self, plan: LevelPlan, tile: Tile) -> bytes:
        lv = plan.level
        if tile.ref is not None and tile.fmt is not None and tile.fmt.transfer_syntax in _JPEG_SYNTAXES:
            raw, coding = self._stored(tile)
            if coding == plan.coding and (tile.fmt.columns, tile.fmt.rows) == (lv.tile_width, lv.tile_height):
                self.counts.copied += 1
                return raw
        pixels = self.frames.tile_rgb(tile)  # decoded (cached), or the background of a sparse level's hole
        if pixels.shape[:2] != (lv.tile_height, lv.tile_width):
            pixels = _fit(pixels, lv, self.model.background_rgb)
        self.counts.encoded += 1
        return encode_tile(pixels, plan.coding, self.options.quality)

    # ---- associated images ------------------------------------------------------------------------
    def associated(self, kind: str) -> np.ndarray | None:
        found: LevelModel | None = self.model.associated.get(kind)
        return None if found is None else self.frames.compose_level(self.model, found)

    def thumbnail(self) -> np.ndarray:
        """The series' thumbnail, else one made from the coarsest level (tifffile takes the second directory
        of an SVS for the thumbnail whatever it is, so there always is one)."""
        stored = self.associated("thumbnail")
        if stored is not None:
            return stored
        index = len(self.model.levels) - 1
        lv = self.model.levels[index].level
        scale = min(1.0, THUMBNAIL_MAX / max(lv.width, lv.height))
        size = (max(1, round(lv.width * scale)), max(1, round(lv.height * scale)))
        return resample_region(lambda level, tx, ty: self.frames.tile_rgb(self._tile(level, tx, ty)), index, lv,
                               (0, 0, lv.width, lv.height), size, self.model.background_rgb)

    # ---- facts for the description and resolution tags ----------------------------------------------
    def mpp(self, level: int = 0) -> tuple[float, float] | None:
        spacing = self.model.levels[level].level.pixel_spacing_mm
        if spacing:
            return spacing[0] * 1000, spacing[1] * 1000
        volume = self.model.imaged_volume_mm  # spacing from the imaged size when the tags give none
        lv = self.model.levels[level].level
        return (volume[0] * 1000 / lv.width, volume[1] * 1000 / lv.height) if volume else None


def _fit(pixels: np.ndarray, level: Level, background: tuple[int, int, int]) -> np.ndarray:
    """A decoded tile padded or cropped to the level's tile size (a frame smaller than its tile)."""
    out = np.empty((level.tile_height, level.tile_width, 3), np.uint8)
    out[:] = background
    h, w = min(pixels.shape[0], level.tile_height), min(pixels.shape[1], level.tile_width)
    out[:h, :w] = pixels[:h, :w] if pixels.ndim == 3 else pixels[:h, :w, None]
    return out

