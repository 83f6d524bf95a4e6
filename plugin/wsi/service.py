"""SlideService: the one object route handlers talk to. Series models, tiles and frames, with caches.

Everything from a URL is validated before it reaches an Orthanc REST path.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from . import codec, display
from .cache import ByteBudgetLRU
from .colour import is_srgb_profile
from .errors import BadRequest, NotFound, UnsupportedFeature, UpstreamError
from .frames import FrameRef
from .markers import embed_icc_in_jpeg
from .series import WSI_SOP_CLASS, InstanceRecord, LevelModel, Revision, SeriesModel, build_series_model

log = logging.getLogger(__name__)

ORTHANC_ID = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{8}){4}")
_SLICE = re.compile(r"/instances/([0-9a-f-]{44})/frames/([0-9]+)$")
# Native YBR_FULL_422 frames are cut from the whole pixel data, read per tile: only up to this size.
WHOLE_PIXEL_DATA_MAX_BYTES = 64 << 20


class OrthancReader(Protocol):
    def get_bytes(self, uri: str) -> bytes: ...
    def get_json(self, uri: str) -> Any: ...


def check_id(value: str, what: str = "identifier") -> str:
    if not ORTHANC_ID.fullmatch(value):
        raise BadRequest(f"not an Orthanc {what}: {value[:60]!r}", what)
    return value


@dataclass(frozen=True)
class FrameInfo:
    """One frame of an ordered (non whole-slide) series."""

    instance_id: str
    frame: int  # 0-based
    rows: int
    columns: int


@dataclass
class _Checked:
    """A fact read from Orthanc, trusted until SeriesCheckSeconds after its check began or a change."""

    value: Any
    checked_at: float  # when the read began: a change made during it is not missed
    generation: int  # the change count when the read began


@dataclass(frozen=True)
class _SeriesState:
    model: SeriesModel | None  # None: the series exists but is not whole-slide
    revision: Revision


_MAX_SERIES = 512  # models kept (a model is small but a sparse level's index can be large)
_MAX_VERSIONS = 65536  # instance versions kept


class SlideService:
    def __init__(self, orthanc: OrthancReader, cache_bytes: int, series_check_seconds: float = 5.0,
                 jpeg_quality: int = 90, clock: Callable[[], float] = time.monotonic) -> None:
        self._orthanc = orthanc
        self._clock = clock
        self._check_seconds = series_check_seconds
        self.jpeg_quality = jpeg_quality
        self._series: dict[str, _Checked] = {}  # series id -> _SeriesState
        self._versions: dict[str, _Checked] = {}  # instance id -> version (FileUuid)
        self._facts_lock = threading.Lock()
        self._generation = 0  # bumped by Orthanc's change callback
        # Budget split: encoded tiles are the hottest (passthrough), decoded tiles serve IIIF stitching.
        # Every key of pixels or per-instance facts carries the instance's version (see InstanceRecord).
        self.tiles = ByteBudgetLRU(cache_bytes // 2)
        self.decoded = ByteBudgetLRU(cache_bytes // 4)
        self.misc = ByteBudgetLRU(cache_bytes // 4)  # instance tags, ICC profiles, ordered frames

    # ---- change tracking --------------------------------------------------------------------------
    def on_change(self) -> None:
        """An instance was stored or deleted in this Orthanc: re-check cached facts before trusting them."""
        self._generation += 1

    def _trusted(self, checked: _Checked | None) -> bool:
        return checked is not None and checked.generation == self._generation and \
            self._clock() - checked.checked_at < self._check_seconds

    def _remember(self, table: dict[str, _Checked], key: str, value: Any, started: float, generation: int,
                  limit: int) -> None:
        """Store a fact unless a later read already stored one: facts only move forward in time."""
        with self._facts_lock:
            current = table.get(key)
            if current is not None and current.checked_at > started:
                return
            table.pop(key, None)  # re-inserted last: the oldest facts go first when over the limit
            table[key] = _Checked(value, started, generation)
            while len(table) > limit:
                del table[next(iter(table))]

    def _forget(self, table: dict[str, _Checked], key: str) -> None:
        with self._facts_lock:
            table.pop(key, None)

    def _series_state(self, series_id: str) -> _SeriesState:
        """The series' model and revision, re-read when not trusted; NotFound for no series."""
        check_id(series_id, "series id")
        checked = self._series.get(series_id)
        if self._trusted(checked):
            return checked.value
        # Another Orthanc sharing the database may have changed the series, and a series stored again
        # with the same UIDs keeps its instance ids: each instance's stored file decides (FileUuid).
        started, generation = self._clock(), self._generation
        revision = self._revision(series_id, started, generation)
        if checked is not None and checked.value.revision == revision:
            state = checked.value
        else:
            state = _SeriesState(self._build_model(series_id, revision), revision)
        self._remember(self._series, series_id, state, started, generation, _MAX_SERIES)
        return state

    def _revision(self, series_id: str, started: float, generation: int) -> Revision:
        try:
            try:
                instances = self._orthanc.get_json(f"/series/{series_id}/instances")
            except UpstreamError:
                # Orthanc 1.10 answers "Bad type for a parameter" when the id names an instance or a study;
                # GET /series/{id} answers 404 then.
                self._orthanc.get_bytes(f"/series/{series_id}")
                raise
        except NotFound:
            self._forget(self._series, series_id)
            raise NotFound(f"no series {series_id}") from None
        revision = tuple(sorted((str(i["ID"]), str(i.get("FileUuid", ""))) for i in instances))
        for instance_id, version in revision:
            self._remember(self._versions, instance_id, version, started, generation, _MAX_VERSIONS)
        return revision

    def series_model(self, series_id: str) -> SeriesModel | None:
        """The whole-slide model (None for another kind of series); NotFound for no series."""
        return self._series_state(series_id).model

    def is_fresh(self, model: object) -> bool:
        """Whether an answer built from `model` may be sent without looking at Orthanc: it is still the
        series' current model and was checked recently. The model must be taken before the answer is built."""
        if not isinstance(model, SeriesModel):
            return False
        checked = self._series.get(model.series_id)
        return checked is not None and checked.value.model is model and self._trusted(checked)

    def instance_version(self, instance_id: str) -> str:
        """What Orthanc stores for the instance now (FileUuid); NotFound for no instance."""
        check_id(instance_id, "instance id")
        checked = self._versions.get(instance_id)
        if self._trusted(checked):
            return checked.value
        started, generation = self._clock(), self._generation
        try:
            version = str(self._orthanc.get_json(f"/instances/{instance_id}").get("FileUuid", ""))
        except NotFound:
            self._forget(self._versions, instance_id)
            raise NotFound(f"no instance {instance_id}") from None
        self._remember(self._versions, instance_id, version, started, generation, _MAX_VERSIONS)
        return version

    def _build_model(self, series_id: str, revision: Revision) -> SeriesModel | None:
        if not revision:
            return None
        first = revision[0][0]
        if self._orthanc.get_bytes(f"/instances/{first}/metadata/SopClassUid").decode() != WSI_SOP_CLASS:
            return None
        records = [InstanceRecord(i, self._orthanc.get_json(f"/instances/{i}/tags?short"), self.transfer_syntax(i),
                                  version) for i, version in revision]
        model = build_series_model(series_id, records)
        if model is not None:
            log.info("series %s: %d levels, %d optical paths, %d focal planes", series_id, len(model.levels),
                     len(model.optical_paths), len(model.focal_planes_um))
        return model

    def transfer_syntax(self, instance_id: str) -> str:
        # The metadata is empty for HTJ2K and JPEG XL in Orthanc 1.10; the file meta header never is.
        header = self._orthanc.get_json(f"/instances/{instance_id}/header?short")
        return str(header.get("0002,0010", "")).strip("\0 ")

    def wsi_model(self, series_id: str) -> SeriesModel:
        model = self.series_model(series_id)
        if model is None or not model.levels:
            raise NotFound(f"series {series_id} is not a whole-slide image")
        return model

    # ---- choosing a plane -------------------------------------------------------------------------
    @staticmethod
    def select(model: SeriesModel, optical_path: str | None, focal_plane: str | int | None) -> tuple[str, int]:
        """Validated (optical path, focal plane index); defaults: first path, plane nearest the middle."""
        path = model.default_optical_path if optical_path in (None, "") else str(optical_path)
        if path not in {p.identifier for p in model.optical_paths}:
            raise BadRequest(f"unknown optical path {path[:40]!r}", "optical-path")
        if focal_plane in (None, ""):
            return path, model.default_focal_plane
        try:
            plane = int(focal_plane)
        except (TypeError, ValueError):
            raise BadRequest("focal-plane must be an index", "focal-plane") from None
        if not 0 <= plane < len(model.focal_planes_um):
            raise BadRequest(f"focal-plane out of range 0..{len(model.focal_planes_um) - 1}", "focal-plane")
        return path, plane

    # ---- frames and tiles -------------------------------------------------------------------------
    def raw_frame(self, instance_id: str, frame: int, fmt: codec.PixelFormat | None = None) -> bytes:
        if fmt is not None and codec.orthanc_cannot_split(fmt):
            return self._cut_native_frame(instance_id, frame, fmt)
        return self._orthanc.get_bytes(f"/instances/{instance_id}/frames/{frame}/raw")

    def _cut_native_frame(self, instance_id: str, frame: int, fmt: codec.PixelFormat) -> bytes:
        """A frame Orthanc cannot index (codec.orthanc_cannot_split), cut from the whole pixel data."""
        total = codec.native_frame_size(fmt) * self.instance_frame_count(instance_id)
        if total > WHOLE_PIXEL_DATA_MAX_BYTES:
            raise UnsupportedFeature(f"native {fmt.photometric} instance of {total >> 20} MB: Orthanc cannot "
                                     f"read its frames one by one, and reading it whole for each tile is refused")
        # For native pixel data, Orthanc 1.10 lists one item under /content/7fe0-0010: the whole value.
        whole = self._orthanc.get_bytes(f"/instances/{instance_id}/content/7fe0-0010/0")
        return codec.cut_native_frame(whole, fmt, frame)

    def pixel_format(self, model: SeriesModel, instance_id: str) -> codec.PixelFormat:
        key = ("fmt", instance_id, model.versions.get(instance_id, ""))
        fmt = self.misc.get(key)
        if fmt is None:
            fmt = self._format_for(instance_id, model.pixel_tags[instance_id], model.transfer_syntaxes[instance_id])
            self.misc.put(key, fmt, 512)
        return fmt

    def _format_for(self, instance_id: str, tags: dict, syntax: str) -> codec.PixelFormat:
        palette = None
        if str(tags.get("0028,0004", "")).strip().upper() == "PALETTE COLOR":
            # Orthanc's JSON gives the (binary) palette LUT data as null: read the raw values.
            palette = tuple(self._orthanc.get_bytes(f"/instances/{instance_id}/content/0028-{tag}")
                            for tag in ("1201", "1202", "1203"))
        return codec.PixelFormat.from_dicom_json(tags, syntax, palette)

    def locate(self, model: SeriesModel, level_model: LevelModel, tx: int, ty: int, path: str,
               plane: int) -> FrameRef | None:
        level = level_model.level
        if not (0 <= tx < level.tiles_x and 0 <= ty < level.tiles_y):
            raise NotFound(f"tile ({tx}, {ty}) outside the level's {level.tiles_x}x{level.tiles_y} tiles")
        return level_model.frames.lookup((tx, ty, path, plane))

    def background_tile(self, model: SeriesModel, level_model: LevelModel) -> np.ndarray:
        level = level_model.level
        tile = np.empty((level.tile_height, level.tile_width, 3), np.uint8)
        tile[:] = model.background_rgb
        return tile

    def decode_tile(self, model: SeriesModel, ref: FrameRef) -> np.ndarray:
        """uint8 RGB pixels of one stored frame (cached)."""
        key = ("tile", *ref, model.versions.get(ref[0], ""))
        pixels = self.decoded.get(key)
        if pixels is None:
            fmt = self.pixel_format(model, ref[0])
            pixels = codec.to_rgb8(codec.decode_frame(self.raw_frame(*ref, fmt), fmt), fmt)
            self.decoded.put(key, pixels)
        return pixels

    def read_tile_rgb(self, model: SeriesModel, level: int, tx: int, ty: int, *, optical_path: str | None = None,
                      focal_plane: str | int | None = None) -> np.ndarray:
        """One tile of `model` (the one an answer is built and cached from: see is_fresh)."""
        level_model = self.level(model, level)
        path, plane = self.select(model, optical_path, focal_plane)
        ref = self.locate(model, level_model, tx, ty, path, plane)
        return self.background_tile(model, level_model) if ref is None else self.decode_tile(model, ref)

    @staticmethod
    def level(model: SeriesModel, index: int) -> LevelModel:
        if not 0 <= index < len(model.levels):
            raise NotFound(f"level {index} outside 0..{len(model.levels) - 1}")
        return model.levels[index]

    def icc_profile(self, model: SeriesModel) -> bytes | None:
        """The slide's ICC profile to embed in answers; None when it has none or it is plain sRGB."""
        source = model.icc_source
        if source is None:
            return None
        key = ("icc", source, model.versions.get(source[0], ""))
        icc = self.misc.get(key)
        if icc is None:
            try:
                icc = self._orthanc.get_bytes(f"/instances/{source[0]}/content/0048-0105/{source[1]}/0028-2000")
            except NotFound:
                icc = b""
            icc = b"" if icc and is_srgb_profile(icc) else icc
            self.misc.put(key, icc)
        return icc or None

    def stored_jpeg(self, model: SeriesModel, ref: FrameRef) -> bytes | None:
        """The stored frame as it is (the slide's ICC profile embedded) when browsers show it right; else None.

        Decided per frame from its own header (microseconds): a frame unlike its neighbours (another
        encoder, a damaged header) must not decide for them, nor they for it.
        """
        fmt = self.pixel_format(model, ref[0])
        if not codec.can_pass_through_jpeg(fmt):
            return None
        raw = self.raw_frame(*ref)
        if not codec.can_pass_through_jpeg(fmt, raw):
            return None
        icc = self.icc_profile(model)
        return embed_icc_in_jpeg(raw, icc) if icc else raw

    # ---- associated images ------------------------------------------------------------------------
    def associated_pixels(self, series_id: str, kind: str) -> tuple[SeriesModel, LevelModel]:
        model = self.wsi_model(series_id)
        found = model.associated.get(kind)
        if found is None:
            raise NotFound(f"series {series_id} has no {kind} image")
        return model, found

    def compose_level(self, model: SeriesModel, level_model: LevelModel) -> np.ndarray:
        """A whole (small) level or associated image stitched from its frames, cropped to its size."""
        level = level_model.level
        out = np.empty((level.tiles_y * level.tile_height, level.tiles_x * level.tile_width, 3), np.uint8)
        out[:] = model.background_rgb
        path = level_model.optical_path or model.default_optical_path
        plane = 0 if level_model.optical_path else model.default_focal_plane
        for ty in range(level.tiles_y):
            for tx in range(level.tiles_x):
                ref = level_model.frames.lookup((tx, ty, path, plane))
                if ref is not None:
                    tile = self.decode_tile(model, ref)
                    y, x = ty * level.tile_height, tx * level.tile_width
                    out[y:y + tile.shape[0], x:x + tile.shape[1]] = tile[: out.shape[0] - y, : out.shape[1] - x]
        return out[: level.height, : level.width]

    # ---- ordinary series (IIIF frames) ------------------------------------------------------------
    def resource_kind(self, resource_id: str) -> str:
        """"series" or "instance"; NotFound when Orthanc has neither."""
        check_id(resource_id)
        if self._trusted(self._series.get(resource_id)):
            return "series"
        if self._trusted(self._versions.get(resource_id)):
            return "instance"
        try:
            self._series_state(resource_id)
            return "series"
        except NotFound:
            pass
        try:
            self.instance_version(resource_id)
            return "instance"
        except NotFound:
            raise NotFound(f"no series or instance {resource_id}") from None

    def instance_tags(self, instance_id: str) -> dict:
        key = ("tags", instance_id, self.instance_version(instance_id))
        tags = self.misc.get(key)
        if tags is None:
            # VOI LUT data is left out of Orthanc's JSON unless asked for by tag.
            tags = self._orthanc.get_json(f"/instances/{instance_id}/tags?short&ignore-length=0028-3006")
            self.misc.put(key, tags, 4096 + len(tags) * 64)
        return tags

    def ordered_frames(self, series_id: str) -> list[FrameInfo]:
        key = ("ordered", series_id, self._series_state(series_id).revision)
        frames = self.misc.get(key)
        if frames is None:
            slices = self._orthanc.get_json(f"/series/{series_id}/ordered-slices").get("Slices", [])
            frames = []
            for uri in slices:
                match = _SLICE.search(uri)
                if match:
                    tags = self.instance_tags(match.group(1))
                    frames.append(FrameInfo(match.group(1), int(match.group(2)), int(tags.get("0028,0010", 0)),
                                            int(tags.get("0028,0011", 0))))
            self.misc.put(key, frames, 256 * len(frames) + 256)
        return frames

    def instance_frame_count(self, instance_id: str) -> int:
        tags = self.instance_tags(instance_id)
        try:
            return max(1, int(str(tags.get("0028,0008", "1")).split("\\")[0] or 1))
        except ValueError:
            return 1

    def read_frame_display(self, instance_id: str, frame: int) -> np.ndarray:
        """A radiology frame with the DICOM's own display rules applied, uint8 (cached)."""
        key = ("display", instance_id, self.instance_version(instance_id), frame)
        pixels = self.decoded.get(key)
        if pixels is None:
            if not 0 <= frame < self.instance_frame_count(instance_id):
                raise NotFound(f"instance {instance_id} has no frame {frame}")
            tags = self.instance_tags(instance_id)
            fmt = self._format_for(instance_id, tags, self.transfer_syntax(instance_id))
            stored = codec.decode_frame(self.raw_frame(instance_id, frame, fmt), fmt)
            pixels = display.render_for_display(stored, fmt, tags, frame_index=frame)
            self.decoded.put(key, pixels)
        return pixels

    def series_tags(self, series_id: str) -> dict[str, str]:
        """Main DICOM tags of the series, its study and patient, as plain strings."""
        check_id(series_id, "series id")
        series = self._orthanc.get_json(f"/series/{series_id}")
        study = self._orthanc.get_json(f"/studies/{series['ParentStudy']}")
        tags: dict[str, str] = {}
        for source in (study.get("PatientMainDicomTags", {}), study.get("MainDicomTags", {}),
                       series.get("MainDicomTags", {})):
            tags.update({k: str(v) for k, v in source.items()})
        tags["OrthancStudyID"] = series["ParentStudy"]
        return tags
