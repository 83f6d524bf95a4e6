"""FrameSource: the stored frames of whole-slide series, as stored (pass-through) or decoded to RGB.

Raw frames are read single-flight; decoded tiles, pixel formats and ICC profiles are cached under keys that
carry the instance's version (FileUuid), so an old entry never answers for new content. The debug log says
each time a frame is read from Orthanc and decoded (the integration test counts them).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from . import codec
from .cache import Memo, SingleFlight
from .colour import is_srgb_profile
from .errors import BadRequest, DecodeError, NotFound, UnsupportedFeature, WsiError
from .frames import FrameRef
from .markers import embed_icc_in_jpeg, jpeg_header
from .series import LevelModel, SeriesModel
from .series_repository import OrthancReader, SeriesRepository
from .stored_file import StoredFile, parse_stored_file
from .stream_headers import DEFAULT_MAX_FRAME_PIXELS

log = logging.getLogger(__name__)

_REJECTED_KEPT = 4096  # instance versions whose first frame failed the verdict (rare: a few bytes each)


@dataclass(frozen=True)
class FrameLimits:
    """What a stored frame may cost to read and decode (WholeSlideImaging.MaxFramePixels, MaxWholePixelDataMB)."""

    max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS
    # Native YBR_FULL_422 frames are cut from the whole pixel data, read for each tile: only up to this size.
    max_whole_pixel_data_bytes: int = 64 << 20


@dataclass(frozen=True)
class Tile:
    """One tile position of a level, located: `ref` is None for a hole of a sparse level (background)."""

    model: SeriesModel
    level: LevelModel
    ref: FrameRef | None
    fmt: codec.PixelFormat | None = None  # of the frame's instance: looked up once per request


class FrameSource:
    def __init__(self, orthanc: OrthancReader, series: SeriesRepository, pixels: Memo, facts: Memo,
                 limits: FrameLimits = FrameLimits()) -> None:
        self._orthanc = orthanc
        self._limits = limits
        self._series = series
        self._pixels = pixels  # decoded tiles and frames
        self._facts = facts  # pixel formats, ICC profiles
        self._raw_reads = SingleFlight()
        self._stored_reads = SingleFlight()  # whole stored files of replaced instances
        # (instance, version) whose first frame failed the per-frame verdict: left out of frame maps
        self._rejected: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    # ---- where a tile is --------------------------------------------------------------------------
    @staticmethod
    def level(model: SeriesModel, index: int) -> LevelModel:
        if not 0 <= index < len(model.levels):
            raise NotFound(f"level {index} outside 0..{len(model.levels) - 1}")
        return model.levels[index]

    @staticmethod
    def select(model: SeriesModel, optical_path: str | None, focal_plane: str | int | None) -> tuple[str, int]:
        """Validated (optical path, focal plane index); defaults: first path, plane nearest the middle."""
        path = model.default_optical_path if optical_path in (None, "") else str(optical_path)
        if path not in model.optical_path_ids:
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

    def tile(self, model: SeriesModel, level: int, tx: int, ty: int, optical_path: str | None = None,
             focal_plane: str | int | None = None) -> Tile:
        level_model = self.level(model, level)
        path, plane = self.select(model, optical_path, focal_plane)
        lv = level_model.level
        if not (0 <= tx < lv.tiles_x and 0 <= ty < lv.tiles_y):
            raise NotFound(f"tile ({tx}, {ty}) outside the level's {lv.tiles_x}x{lv.tiles_y} tiles")
        ref = level_model.frames.lookup((tx, ty, path, plane))
        return Tile(model, level_model, ref, None if ref is None else self.slide_format(model, ref[0]))

    # ---- stored frames ----------------------------------------------------------------------------
    def raw_frame(self, instance_id: str, frame: int, version: str, fmt: codec.PixelFormat | None = None) -> bytes:
        """The frame's stored bytes; concurrent reads of one frame are one GET."""
        def read() -> bytes:
            log.debug("reading frame %d of instance %s", frame, instance_id)
            if self._series.replaced(instance_id, version):
                return self.stored_frame(instance_id, version, frame)
            if fmt is not None and codec.orthanc_cannot_split(fmt):
                return self._cut_native_frame(instance_id, frame, fmt)
            return self._orthanc.get_bytes(f"/instances/{instance_id}/frames/{frame}/raw")

        return self._raw_reads.run((instance_id, version, frame), read)

    def stored_frame(self, instance_id: str, version: str, frame: int) -> bytes:
        """A frame of an instance another Orthanc stored again (`replaced`), whose frames this Orthanc would
        answer from its old parsed copy: cut from the stored file, read by its FileUuid (it cannot be stale).

        Orthanc 1.10 reads an attachment only whole, so the file is read once for all its frames, which are
        kept one by one in the pixels cache (a large instance keeps what fits; a frame pushed out costs
        another whole read, single-flight for concurrent requests).
        """
        key = ("stored-frame", instance_id, version)
        found = self._pixels.get((*key, frame))
        if found is not None:
            return found

        def read() -> StoredFile:
            log.info("instance %s was stored again through another Orthanc: reading its frames from its file",
                     instance_id)
            stored = parse_stored_file(self._orthanc.get_bytes(f"/instances/{instance_id}/attachments/dicom/data"))
            for n, data in enumerate(stored.frames):
                self._pixels.put((*key, n), data, len(data))
            return stored

        return self._stored_reads.run(key, read).frame(frame)

    def content(self, instance_id: str, version: str, path: str) -> bytes:
        """A binary element of the instance as stored in `version` (Orthanc's `/content/{path}`)."""
        if self._series.replaced(instance_id, version):
            return self._facts.get_or_compute(
                ("stored-content", instance_id, version, path),
                lambda: parse_stored_file(self._orthanc.get_bytes(
                    f"/instances/{instance_id}/attachments/dicom/data")).content(path), len)
        return self._orthanc.get_bytes(f"/instances/{instance_id}/content/{path}")

    def decode_stored(self, instance_id: str, frame: int, version: str, fmt: codec.PixelFormat) -> np.ndarray:
        """A stored frame's samples as decode_frame gives them, within the frame limits."""
        return codec.decode_frame(self.raw_frame(instance_id, frame, version, fmt), fmt,
                                  max_pixels=self._limits.max_frame_pixels)

    def _cut_native_frame(self, instance_id: str, frame: int, fmt: codec.PixelFormat) -> bytes:
        """A frame Orthanc cannot index (codec.orthanc_cannot_split), cut from the whole pixel data."""
        total = codec.native_frame_size(fmt) * self._series.frame_count(instance_id)
        limit = self._limits.max_whole_pixel_data_bytes
        if total > limit:
            raise UnsupportedFeature(f"native {fmt.photometric} instance of {total / (1 << 20):.1f} MB: Orthanc cannot "
                                     f"read its frames one by one, and reading it whole for each tile is refused over "
                                     f"{limit >> 20} MB (WholeSlideImaging.MaxWholePixelDataMB)")
        # For native pixel data, Orthanc 1.10 lists one item under /content/7fe0-0010: the whole value.
        # (A replaced instance never gets here: raw_frame reads its stored file.)
        whole = self._orthanc.get_bytes(f"/instances/{instance_id}/content/7fe0-0010/0")
        return codec.cut_native_frame(whole, fmt, frame)

    def pixel_format(self, instance_id: str, version: str, tags: dict, syntax: str) -> codec.PixelFormat:
        return self._facts.get_or_compute(("fmt", instance_id, version),
                                          lambda: self._format_for(instance_id, version, tags, syntax), lambda _: 512)

    def _format_for(self, instance_id: str, version: str, tags: dict, syntax: str) -> codec.PixelFormat:
        fmt = codec.PixelFormat.from_dicom_json(tags, syntax)
        if fmt.needs_palette_data:
            # Orthanc's JSON gives the (binary) palette LUT data as null: read the raw values.
            palette = tuple(self.content(instance_id, version, tag) for tag in codec.PALETTE_DATA_TAGS)
            fmt = codec.PixelFormat.from_dicom_json(tags, syntax, palette)
        return fmt

    def slide_format(self, model: SeriesModel, instance_id: str) -> codec.PixelFormat:
        return self.pixel_format(instance_id, model.versions.get(instance_id, ""), model.pixel_tags[instance_id],
                                 model.transfer_syntaxes[instance_id])

    # ---- whole-slide tiles ------------------------------------------------------------------------
    def stored_media_type(self, tile: Tile) -> str:
        """What a tile goes out as unless asked otherwise: stored JPEG as stored, anything else lossless."""
        if tile.fmt is not None and codec.can_pass_through_jpeg(tile.fmt):
            return "image/jpeg"
        return "image/png"

    def stored_jpeg(self, tile: Tile) -> bytes | None:
        """The stored frame as it is (the slide's ICC profile embedded) when browsers show it right; else None.

        Decided per frame from its own header (microseconds): a frame unlike its neighbours (another
        encoder, a damaged header) must not decide for them, nor they for it.
        """
        fmt = tile.fmt
        if tile.ref is None or fmt is None or not codec.can_pass_through_jpeg(fmt):
            return None
        version = tile.model.versions.get(tile.ref[0], "")
        raw = self.raw_frame(*tile.ref, version)
        if not self._frame_passes(tile.ref[0], version, fmt, raw):
            return None
        icc = self.icc_profile(tile.model)
        return embed_icc_in_jpeg(raw, icc) if icc else raw

    def goes_out_as_stored(self, model: SeriesModel, instance_id: str) -> bool:
        """Whether every tile of the instance goes out exactly as stored (the frame map, frame_map.py), decided
        from what the pyramid already knows, without reading a frame: 8-bit JPEG a browser shows right, no ICC
        profile to embed, not labelled RGB (a browser then needs markers that declare RGB, decided frame by
        frame), its frames not stored again through another Orthanc sharing the database (whose frame route here
        would answer the old file: `SeriesRepository.replaced`), and its first frame not found failing the
        per-frame verdict (`check_first_frame`, run by the FrameWarmer after the pyramid is first asked for)."""
        try:
            fmt = self.slide_format(model, instance_id)
            if not codec.can_pass_through_jpeg(fmt) or fmt.photometric == "RGB" or self.icc_profile(model):
                return False
            version = model.versions.get(instance_id, "")
            if self._series.replaced(instance_id, version):
                return False  # this Orthanc's own frame route may still answer the old file (scale-out)
            return (instance_id, version) not in self._rejected
        except WsiError:
            return False  # the tiles then come through /wsi/tiles, which says what is wrong

    def rejected_in(self, model: SeriesModel) -> tuple[str, ...]:
        """The slide's instances whose first frame failed `check_first_frame`: part of the frame map's key."""
        return tuple(i for i, v in model.versions.items() if (i, v) in self._rejected)

    def check_first_frame(self, model: SeriesModel, instance_id: str) -> None:
        """Read frame 0 of the instance (Orthanc parses the whole instance on its first frame: the viewer's first
        tile there no longer pays it) and, for an instance the frame map lists, walk its header: one that fails
        the per-frame verdict (a lossless or 12-bit stream under a baseline label, a size unlike the tags') is
        left out of the frame maps built from now on. A viewer that got it earlier falls back to /wsi/tiles on
        the browser's decoding error (webassets/direct-frames.js)."""
        version = model.versions.get(instance_id, "")
        fmt = self.slide_format(model, instance_id)
        listed = self.goes_out_as_stored(model, instance_id)
        raw = self.raw_frame(instance_id, 0, version, fmt)
        if listed and not self._frame_passes(instance_id, version, fmt, raw):
            log.warning("instance %s: its first frame is not a JPEG a browser shows as stored (%s): its tiles "
                        "now come through /wsi/tiles only", instance_id, _describe_jpeg(raw))
            with self._lock:
                self._rejected[(instance_id, version)] = None
                while len(self._rejected) > _REJECTED_KEPT:
                    self._rejected.popitem(last=False)

    def _frame_passes(self, instance_id: str, version: str, fmt: codec.PixelFormat, raw: bytes) -> bool:
        """codec.can_pass_through_jpeg(fmt, raw), its header walked once per distinct header: the frames of one
        encoder share their header bytes (tables, size), so a frame that starts with the very bytes that decided
        for an earlier frame of its instance gets that answer (one comparison); any other is read itself."""
        key = ("jpeg-header", instance_id, version)
        known = self._facts.get(key)
        if known is not None and raw.startswith(known[0]):
            return known[1]
        verdict, length = codec.frame_verdict(fmt, raw)
        if length:
            self._facts.put(key, (bytes(raw[:length]), verdict), length + 128)
        return verdict

    def tile_rgb(self, tile: Tile) -> np.ndarray:
        """uint8 RGB pixels of one tile: the decoded frame (cached, single-flight) or the background."""
        if tile.ref is None:
            lv = tile.level.level
            background = np.empty((lv.tile_height, lv.tile_width, 3), np.uint8)
            background[:] = tile.model.background_rgb
            return background
        return self.decode(tile.model, tile.ref)

    def decode(self, model: SeriesModel, ref: FrameRef) -> np.ndarray:
        instance_id, frame = ref
        version = model.versions.get(instance_id, "")

        def decode() -> np.ndarray:
            fmt = self.slide_format(model, instance_id)
            pixels = codec.to_rgb8(self.decode_stored(instance_id, frame, version, fmt), fmt)
            log.debug("decoded frame %d of instance %s", frame, instance_id)
            return pixels

        return self._pixels.get_or_compute(("tile", instance_id, version, frame), decode)

    def read_tile_rgb(self, model: SeriesModel, level: int, tx: int, ty: int) -> np.ndarray:
        """A tile of the default plane, for IIIF renders (the model is the one the answer is cached under)."""
        return self.tile_rgb(self.tile(model, level, tx, ty))

    def icc_profile(self, model: SeriesModel) -> bytes | None:
        """The slide's ICC profile to embed in answers; None when it has none or it is plain sRGB."""
        source = model.icc_source
        if source is None:
            return None

        def read() -> bytes:
            try:
                icc = self.content(source[0], model.versions.get(source[0], ""), f"0048-0105/{source[1]}/0028-2000")
            except NotFound:
                return b""
            return b"" if icc and is_srgb_profile(icc) else icc

        return self._facts.get_or_compute(("icc", *source, model.versions.get(source[0], "")), read) or None

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
                    tile = self.decode(model, ref)
                    y, x = ty * level.tile_height, tx * level.tile_width
                    out[y:y + tile.shape[0], x:x + tile.shape[1]] = tile[: out.shape[0] - y, : out.shape[1] - x]
        return out[: level.height, : level.width]


def _describe_jpeg(data: bytes) -> str:
    """A stored frame's JPEG header in a few words, for the log."""
    try:
        header = jpeg_header(data)
    except DecodeError:
        return "no readable JPEG header"
    return f"SOF 0x{header.sof:02X}, {header.precision}-bit, {header.components} components, " \
           f"{header.width}x{header.height}"
