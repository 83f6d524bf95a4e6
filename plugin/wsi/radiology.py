"""RadiologyFrames: frames of ordinary (non whole-slide) series, ordered, displayed as their DICOM says.

Each frame is published as an IIIF image: small frames as one tile, large ones as a virtual pyramid
(iiif_render.frame_pyramid), and as the C++ plugin 3.x's frame pyramid (frame_levels.frame_tile_pyramid). Both
cut their tiles from one decoded level set per frame (frame_levels.FrameLevels). Keys carry the instance's version.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

import numpy as np

from . import display
from .allocator import release_memory
from .cache import Memo
from .dicom_tags import COLUMNS, ROWS, TagReader
from .errors import NotFound, Overloaded
from .frame_levels import FrameLevels, build_levels
from .frame_source import FrameSource
from .pyramid import Pyramid
from .resample import TileReader
from .rgb8 import to_rgb8
from .series_repository import OrthancReader, SeriesRepository, check_id

_LARGE_FRAME_PIXELS = 1 << 22  # after building a larger frame's levels, free memory goes back to the system
_SLICE = re.compile(r"/instances/([0-9a-f-]{44})/frames/([0-9]+)$")


@dataclass(frozen=True)
class FrameInfo:
    """One frame of an ordered (non whole-slide) series, or of an instance."""

    instance_id: str
    frame: int  # 0-based
    rows: int
    columns: int


class RadiologyFrames:
    def __init__(self, orthanc: OrthancReader, series: SeriesRepository, frames: FrameSource, levels: Memo,
                 facts: Memo, builds: int = 2, wait_seconds: float = 10.0) -> None:
        self._orthanc = orthanc
        # Building a frame's levels holds several copies of it at once (docs/limits.md): at most `builds` at a
        # time. Separate from the RenderGate, which a IIIF render holds while its tiles ask for the levels.
        self._builds = threading.BoundedSemaphore(builds)
        self._wait_seconds = wait_seconds
        self._series = series
        self._frames = frames
        self._levels = levels  # decoded frames and their averaged levels (frame_levels.FrameLevels)
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

    def parent_series(self, instance_id: str) -> str:
        return str(self._orthanc.get_json(f"/instances/{check_id(instance_id, 'instance id')}")["ParentSeries"])

    def series_frames(self, series_id: str) -> list[FrameInfo]:
        """The frames with pixels of a (non whole-slide) series, in IIIF order; NotFound for anything else."""
        if self._series.resource_kind(series_id) != "series":
            raise NotFound(f"{series_id} is not a series")
        if self._series.series_model(series_id) is not None:
            raise NotFound(f"series {series_id} is whole-slide: see /wsi/pyramids/{series_id}")
        return [f for f in self.ordered_frames(series_id) if f.rows > 0 and f.columns > 0]

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

    def frame_levels(self, instance_id: str, frame: int) -> FrameLevels:
        """A frame decoded once into its levels (grey: modality values), kept within the levels' budget."""
        version = self._series.instance_version(instance_id)  # stored again under the same UIDs: new keys

        def build() -> FrameLevels:
            if not 0 <= frame < self._series.frame_count(instance_id):
                raise NotFound(f"instance {instance_id} has no frame {frame}")
            if not self._builds.acquire(timeout=self._wait_seconds):
                raise Overloaded(f"other frames have been decoding for {self._wait_seconds:g} s "
                                 "(WholeSlideImaging.IIIFMaxConcurrentRenders); retry later",
                                 retry_after=max(1, math.ceil(self._wait_seconds)))
            try:
                levels = decode_levels()
            finally:
                self._builds.release()
            if levels.width * levels.height > _LARGE_FRAME_PIXELS:
                release_memory()  # the copies made on the way are freed now: give their pages back to the system
            return levels

        def decode_levels() -> FrameLevels:
            tags = self._series.instance_tags(instance_id)
            fmt = self._frames.pixel_format(instance_id, version, tags, self._series.transfer_syntax(instance_id))
            stored = self._frames.decode_stored(instance_id, frame, version, fmt)
            if not display.is_grey(stored, fmt):
                return build_levels(np.ascontiguousarray(to_rgb8(stored, fmt)), None)
            values = np.ascontiguousarray(display.modality_values(stored, tags, frame))
            return build_levels(values, display.grey_display(values, fmt, tags, frame))

        return self._levels.get_or_compute(("levels", instance_id, version, frame), build,
                                           lambda levels: levels.nbytes)

    def reader(self, found: FrameInfo, pyramid: Pyramid) -> TileReader:
        """Tiles of a frame's virtual pyramid (levels at factors 2^z), displayed as the DICOM says.

        The levels are fetched once per reader: a frame too large to be kept is still decoded once per request.
        """
        held: list[FrameLevels] = []

        def read_tile(level: int, tx: int, ty: int) -> np.ndarray:
            if not held:
                held.append(self.frame_levels(found.instance_id, found.frame))
            lv = pyramid.levels[level]
            x0, y0 = tx * lv.tile_width, ty * lv.tile_height
            return held[0].region(level, x0, y0, x0 + lv.tile_width, y0 + lv.tile_height)

        return read_tile
