"""RadiologyFrames: frames of ordinary (non whole-slide) series, ordered, displayed as their DICOM says.

Each frame is published as an IIIF image: small frames as one tile, large ones as a virtual pyramid whose
levels are downscales of the displayed frame (iiif_render.frame_pyramid). Keys carry the instance's version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import display
from .cache import Memo
from .dicom_tags import COLUMNS, ROWS, TagReader
from .errors import NotFound
from .frame_source import FrameSource
from .pyramid import Pyramid
from .resample import TileReader
from .series_repository import OrthancReader, SeriesRepository

_SLICE = re.compile(r"/instances/([0-9a-f-]{44})/frames/([0-9]+)$")


@dataclass(frozen=True)
class FrameInfo:
    """One frame of an ordered (non whole-slide) series, or of an instance."""

    instance_id: str
    frame: int  # 0-based
    rows: int
    columns: int


class RadiologyFrames:
    def __init__(self, orthanc: OrthancReader, series: SeriesRepository, frames: FrameSource, pixels: Memo,
                 facts: Memo) -> None:
        self._orthanc = orthanc
        self._series = series
        self._frames = frames
        self._pixels = pixels  # displayed frames and their downscales
        self._facts = facts  # ordered frame lists

    def ordered_frames(self, series_id: str) -> list[FrameInfo]:
        return self._facts.get_or_compute(("ordered", series_id, self._series.revision(series_id)),
                                          lambda: self._read_ordered(series_id),
                                          lambda frames: 256 * len(frames) + 256)

    def _read_ordered(self, series_id: str) -> list[FrameInfo]:
        frames = []
        for uri in self._orthanc.get_json(f"/series/{series_id}/ordered-slices").get("Slices", []):
            match = _SLICE.search(uri)
            if match:
                frames.append(self._frame_info(match.group(1), int(match.group(2))))
        return frames

    def _frame_info(self, instance_id: str, frame: int) -> FrameInfo:
        get = TagReader(self._series.instance_tags(instance_id))
        return FrameInfo(instance_id, frame, get.integer(ROWS), get.integer(COLUMNS))

    def locate(self, resource_id: str, index: int) -> FrameInfo:
        """Frame `index` of a series (ordered) or of an instance; NotFound when there is none with pixels."""
        series = self._series
        if series.resource_kind(resource_id) == "series":
            if series.series_model(resource_id) is not None:
                raise NotFound(f"series {resource_id} is whole-slide: see /wsi/iiif/tiles/{resource_id}")
            frames = self.ordered_frames(resource_id)
            if index >= len(frames):
                raise NotFound(f"series {resource_id} has {len(frames)} frames")
            found = frames[index]
        else:
            if index >= series.frame_count(resource_id):
                raise NotFound(f"instance {resource_id} has no frame {index}")
            found = self._frame_info(resource_id, index)
        if found.rows <= 0 or found.columns <= 0:
            raise NotFound(f"frame {index} of {resource_id} has no pixels")
        return found

    def display_pixels(self, instance_id: str, frame: int) -> np.ndarray:
        """A frame with the DICOM's own display rules applied, uint8 (cached, single-flight)."""
        version = self._series.instance_version(instance_id)

        def render() -> np.ndarray:
            if not 0 <= frame < self._series.frame_count(instance_id):
                raise NotFound(f"instance {instance_id} has no frame {frame}")
            tags = self._series.instance_tags(instance_id)
            fmt = self._frames.pixel_format(instance_id, version, tags, self._series.transfer_syntax(instance_id))
            stored = self._frames.decode_stored(instance_id, frame, version, fmt)
            return display.render_for_display(stored, fmt, tags, frame_index=frame)

        return self._pixels.get_or_compute(("display", instance_id, version, frame), render)

    def reader(self, found: FrameInfo, pyramid: Pyramid) -> TileReader:
        """Tiles of a frame's virtual pyramid: slices of the displayed frame, or of a cached downscale."""
        instance_id, frame = found.instance_id, found.frame
        version = self._series.instance_version(instance_id)  # stored again under the same UIDs: new keys

        def level_pixels(level: int) -> np.ndarray:
            full = self.display_pixels(instance_id, frame)
            if level == 0:
                return full
            size = (pyramid.levels[level].width, pyramid.levels[level].height)
            return self._pixels.get_or_compute(
                ("frame-level", instance_id, version, frame, level),
                lambda: np.asarray(Image.fromarray(full).resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)))

        def read_tile(level: int, tx: int, ty: int) -> np.ndarray:
            lv = pyramid.levels[level]
            pixels = level_pixels(level)
            return pixels[ty * lv.tile_height:(ty + 1) * lv.tile_height, tx * lv.tile_width:(tx + 1) * lv.tile_width]

        return read_tile
