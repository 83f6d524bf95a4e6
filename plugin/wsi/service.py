"""SlideService: what route handlers ask for, "the answer to this request" or "these pixels".

It owns the caches and builds every key; handlers never see a cache. Three budgets share CacheSizeMB:
answers (encoded tiles, IIIF renders, associated images: half), pixels (decoded tiles, displayed frames:
a quarter) and facts (tags, pixel formats, ICC profiles, ordered frame lists: a quarter). Each is a `Memo`:
N concurrent cold requests for one thing compute it once. The rooms behind it:

  series_repository  series models and instance facts, trusted while fresh
  frame_source       whole-slide frames: located, as stored (pass-through) or decoded
  radiology          frames of ordinary series, ordered and displayed as their DICOM says
  archive            patients, studies and their series with pixels, as IIIF collections list them

Every image leaves through `encode`: one function (iiif_render.encode_image), the slide's ICC profile in it.
What had to be decoded and re-encoded (tiles, IIIF renders) is also kept on disk when a `DiskCache` is given
(disk_cache.py): its keys carry the version of every instance the bytes came from.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

from .archive import Archive
from .cache import Memo
from .disk_cache import DiskCache
from .display import Window
from .encoders import encode_webp_lossless
from .errors import BadRequest, NotFound
from .frame_levels import TILE_SIZE
from .frame_map import frame_map
from .frame_source import FrameLimits, FrameSource, Tile
from .http import Response
from .iiif_render import RenderPlan, aligned_tile, encode_image, frame_pyramid, render_image
from .iiif_request import FORMAT_MEDIA_TYPES
from .pyramid import Pyramid
from .radiology import RadiologyFrames
from .render_gate import RenderGate
from .resample import TileReader
from .series import SeriesModel
from .series_repository import ORTHANC_ID, OrthancReader, SeriesRepository, check_id

__all__ = ["ORTHANC_ID", "ImageSource", "OrthancReader", "SlideService", "check_id"]

_FORMAT_OF = {media_type: fmt for fmt, media_type in FORMAT_MEDIA_TYPES.items()}
_ANSWER_OVERHEAD = 256  # a cached Response beyond its body


@dataclass(frozen=True)
class ImageSource:
    """One IIIF image: its geometry, its tiles, and the key its renders are cached under."""

    key: tuple[Hashable, ...]  # names the image and what Orthanc stores for it now
    pyramid: Pyramid
    read_tile: TileReader
    icc: Callable[[], bytes | None] = lambda: None
    stored: Callable[[RenderPlan], bytes | None] = lambda plan: None  # a plan answered by stored bytes


class SlideService:
    def __init__(self, orthanc: OrthancReader, cache_bytes: int, series_check_seconds: float = 5.0,
                 jpeg_quality: int = 90, png_level: int = 1, clock: Callable[[], float] = time.monotonic,
                 limits: FrameLimits | None = None, frame_cache_bytes: int = 256 << 20, frame_builds: int = 2,
                 frame_build_wait_seconds: float = 10.0, disk: DiskCache | None = None) -> None:
        self.jpeg_quality = jpeg_quality
        self.disk = disk
        self.png_level = png_level
        self._answers = Memo(cache_bytes // 2)
        pixels, facts = Memo(cache_bytes // 4), Memo(cache_bytes // 4)
        self._facts = facts
        # One frame's levels may take the whole budget (a 8000 x 6000 photograph: 192 MB): evicting the others
        # is what keeps panning over it cheap.
        levels = Memo(frame_cache_bytes, largest_share=1)
        self.series = SeriesRepository(orthanc, facts, series_check_seconds, clock, disk)
        self.frames = FrameSource(orthanc, self.series, pixels, facts, limits or FrameLimits())
        self.radiology = RadiologyFrames(orthanc, self.series, self.frames, levels, facts, frame_builds,
                                         frame_build_wait_seconds)
        self.archive = Archive(orthanc, self.series)

    def on_change(self, stored_instance: str | None = None) -> None:
        """An instance was stored (`stored_instance`) or deleted in this Orthanc (Orthanc's change callback)."""
        self.series.on_change(stored_instance)

    # ---- answers to requests ----------------------------------------------------------------------
    def fresh_answer(self, uri: str, accept: str, query: dict[str, str]) -> Response | None:
        """The cached answer to exactly this request, while the series model it was built from is current.

        One lookup and a freshness check: the warm tile path (orthanc-python holds the GIL for the callback).
        """
        hit = self._answers.get((uri, accept, tuple(query.items())))
        return hit[1] if hit is not None and self.series.is_fresh(hit[0]) else None

    def answer(self, uri: str, accept: str, query: dict[str, str],
               build: Callable[[], tuple[SeriesModel, Response]]) -> Response:
        """The answer to this request; else build() once for concurrent requests, returning the model it was
        built from (taken before building) with the answer, which is kept while that model is current."""
        pair = self._answers.get_or_compute((uri, accept, tuple(query.items())), build,
                                            lambda pair: len(pair[1].body) + _ANSWER_OVERHEAD,
                                            lambda pair: self.series.is_fresh(pair[0]))
        return pair[1]

    # ---- whole-slide images -----------------------------------------------------------------------
    def encode(self, pixels: np.ndarray, media_type: str, icc: bytes | None) -> bytes:
        """A tile encoded; WebP lossless (IIIF's .webp, rendered elsewhere, is lossy)."""
        if media_type == "image/webp":
            return encode_webp_lossless(pixels, icc if pixels.ndim == 3 and pixels.shape[2] in (3, 4) else None)
        return encode_image(pixels, _FORMAT_OF[media_type], icc, self.jpeg_quality, self.png_level)

    def tile_bytes(self, tile: Tile, media_type: str) -> bytes:
        """A tile as `media_type`: a stored JPEG as stored, anything else decoded and encoded (once: on disk)."""
        if media_type == "image/jpeg":
            stored = self.frames.stored_jpeg(tile)
            if stored is not None:
                return stored
        if tile.ref is None or self.disk is None:
            return self._encode_tile(tile, media_type)
        return self._derived(self._tile_key(tile, media_type), lambda: self._encode_tile(tile, media_type))

    def _encode_tile(self, tile: Tile, media_type: str) -> bytes:
        return self.encode(self.frames.tile_rgb(tile), media_type, self.frames.icc_profile(tile.model))

    def _tile_key(self, tile: Tile, media_type: str) -> tuple[Hashable, ...]:
        """What an encoded tile depends on: its frame as stored now, the ICC profile's instance as stored now,
        the output format and its settings."""
        assert tile.ref is not None
        model, (instance_id, frame) = tile.model, tile.ref
        icc = model.icc_source
        icc_version = (icc[0], icc[1], model.versions.get(icc[0], "")) if icc else None
        return ("tile", instance_id, model.versions.get(instance_id, ""), frame, media_type, self.jpeg_quality,
                self.png_level, icc_version)

    def _derived(self, key: tuple[Hashable, ...], make: Callable[[], bytes]) -> bytes:
        """Bytes from the disk cache, else made and stored there."""
        assert self.disk is not None
        found = self.disk.get(key)
        if found is not None:
            return found
        body = make()
        self.disk.put(key, body)
        return body

    def has_derivative(self, tile: Tile, media_type: str) -> bool:
        """Whether the disk cache holds this tile (the pre-renderer skips those)."""
        return self.disk is not None and tile.ref is not None and self.disk.get(self._tile_key(tile, media_type)) \
            is not None
    def frame_map(self, model: SeriesModel) -> list[dict]:
        """Where a browser finds the tiles it may fetch from Orthanc itself (frame_map.py), once per version and
        again when an instance's first frame is found failing (FrameSource.check_first_frame)."""
        key = ("frame-map", model.series_id, model.version, self.frames.rejected_in(model))
        return self._facts.get_or_compute(key,
                                          lambda: frame_map(model, lambda i: self.frames.goes_out_as_stored(model, i)),
                                          lambda levels: 512 + 64 * sum(
                                              len(lv["Full"]) + 2 * len(lv.get("Sparse", {}).get("Tiles", ()))
                                              for lv in levels))

    def associated_image(self, series_id: str, kind: str, media_type: str) -> bytes:
        """A label, overview or thumbnail image, encoded (cached under the series' revision)."""
        model = self.series.wsi_model(series_id)
        found = model.associated.get(kind)
        if found is None:
            raise NotFound(f"series {series_id} has no {kind} image")
        return self._answers.get_or_compute(
            ("associated", series_id, model.revision, kind, media_type),
            lambda: self.encode(self.frames.compose_level(model, found), media_type, self.frames.icc_profile(model)))

    # ---- IIIF images ------------------------------------------------------------------------------
    def slide_image(self, model: SeriesModel) -> ImageSource:
        """The IIIF image of a slide `model` (taken before rendering: its revision is in the key)."""
        frames = self.frames

        def stored(plan: RenderPlan) -> bytes | None:
            found = aligned_tile(plan, model.pyramid)
            return None if found is None else frames.stored_jpeg(frames.tile(model, plan.level, *found))

        return ImageSource(("slide", model.series_id, model.revision), model.pyramid,
                           lambda level, tx, ty: frames.read_tile_rgb(model, level, tx, ty),
                           lambda: frames.icc_profile(model), stored)

    def frame_image(self, resource_id: str, index: int) -> ImageSource:
        """The IIIF image of frame `index` of an ordered series or of an instance."""
        found = self.radiology.locate(resource_id, index)
        pyramid = frame_pyramid(found.columns, found.rows)
        version = self.series.instance_version(found.instance_id)
        return ImageSource(("frame", found.instance_id, version, found.frame), pyramid,
                           self.radiology.reader(found, pyramid))

    def frame_pyramid_image(self, instance_id: str, frame: int) -> ImageSource:
        """The IIIF image of one frame of an instance with the C++ plugin 3.x's tiling (512 px, halving)."""
        levels = self.radiology.frame_levels(instance_id, frame)  # NotFound for no such frame
        version = self.series.instance_version(instance_id)
        pyramid = levels.pyramid
        size = TILE_SIZE
        return ImageSource(("frame-pyramid", instance_id, version, frame), pyramid,
                           lambda level, tx, ty: levels.region(level, tx * size, ty * size, (tx + 1) * size,
                                                               (ty + 1) * size))

    def frame_tile(self, instance_id: str, frame: int, level: int, tx: int, ty: int, media_type: str,
                   chosen: Window | None) -> bytes:
        """One 512-px tile of a frame's pyramid, encoded; each window's tiles are kept apart, all cut from the
        frame's one level set."""
        version = self.series.instance_version(instance_id)

        def build() -> bytes:
            levels = self.radiology.frame_levels(instance_id, frame)
            pyramid = levels.pyramid
            if not 0 <= level < len(pyramid.levels):
                raise NotFound(f"level {level} outside 0..{len(pyramid.levels) - 1}")
            lv = pyramid.levels[level]
            if not (0 <= tx < lv.tiles_x and 0 <= ty < lv.tiles_y):
                raise NotFound(f"tile ({tx}, {ty}) outside the level's {lv.tiles_x}x{lv.tiles_y} tiles")
            if chosen is not None and levels.grey is None:
                raise BadRequest("window applies to grey frames only; this frame is in colour", "window")
            return self.encode(levels.tile(level, tx, ty, chosen), media_type, None)

        return self._answers.get_or_compute(
            ("frame-tile", instance_id, version, frame, level, tx, ty, media_type, chosen), build)

    def rendered(self, image: ImageSource, plan: RenderPlan, gate: RenderGate) -> bytes:
        """The encoded image a plan asks for: cached; computed once for concurrent requests, which wait
        outside the gate (only the computing request takes a place: no waiter holds one)."""

        def draw() -> bytes:
            with gate.admit(plan.output_pixels, plan.source_pixels) as deadline:
                return render_image(plan, image.pyramid, image.read_tile, image.icc(), self.jpeg_quality,
                                    self.png_level, deadline.check)

        def render() -> bytes:
            stored = image.stored(plan)
            if stored is not None:
                return stored
            if self.disk is None:
                return draw()
            # A slide's key holds its whole revision: on disk, a digest of it (the file keeps the key).
            key = tuple(_digest(part) if isinstance(part, tuple) else part for part in image.key)
            return self._derived(("iiif", *key, plan.canonical, self.jpeg_quality, self.png_level), draw)

        return self._answers.get_or_compute(("iiif", *image.key, plan.canonical), render)


def _digest(value: Hashable) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()
