"""TIFF, BigTIFF, Aperio SVS and other TIFF-based slides through tifffile."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator

import numpy as np

from ..errors import BadRequest
from .jpeg_streams import mark_rgb, photometric_of, with_tables
from .source import JpegTiles, Slide, check_size, to_rgb

READ_BUFFER_BYTES = 16 << 20  # compressed bytes tifffile reads at once (its default is 256 MB)
_ASSOCIATED = {"label": "label", "macro": "overview", "overview": "overview", "thumbnail": "thumbnail"}


class TiffLevel:
    def __init__(self, page) -> None:
        self._page = page
        self.width_px, self.height_px = int(page.imagewidth), int(page.imagelength)
        check_size(self.width_px, self.height_px)
        self.tile_width_px = int(page.tilewidth) if page.is_tiled else self.width_px
        self.tile_height_px = int(page.tilelength) if page.is_tiled else int(page.rowsperstrip or 1)
        self._copyable = self._find_jpeg_tiles()

    def _find_jpeg_tiles(self) -> JpegTiles | None:
        page = self._page
        if not (page.is_tiled and page.compression == 7 and page.samplesperpixel == 3 and page.bitspersample == 8
                and page.planarconfig == 1 and page.photometric in (2, 6)):
            return None
        if min(page.databytecounts) == 0 or page.imagedepth != 1:
            return None  # sparse TIFF: some tiles have no stream
        self._photometric_tiff = "rgb" if page.photometric == 2 else "ycbcr"
        first = self._read_stream(0)
        try:
            photometric = photometric_of(first, self._photometric_tiff)
        except BadRequest:
            return None  # e.g. progressive or lossless JPEG tiles: decoded and encoded again
        return JpegTiles(self.width_px, self.height_px, photometric)

    def jpeg_tiles(self) -> JpegTiles | None:
        return self._copyable

    def _read_stream(self, index: int) -> bytes:
        page = self._page
        handle = page.parent.filehandle
        with handle.lock:
            handle.seek(page.dataoffsets[index])
            tile = handle.read(page.databytecounts[index])
        if len(tile) != page.databytecounts[index]:
            raise BadRequest("the TIFF is truncated: a tile ends after the end of the file", "image")
        stream = with_tables(tile, page.jpegtables)
        return mark_rgb(stream) if self._photometric_tiff == "rgb" else stream

    def jpeg_tile(self, column: int, row: int) -> bytes:
        across = -(-self.width_px // self.tile_width_px)
        return self._read_stream(row * across + column)

    def bands(self) -> Iterator[np.ndarray]:
        page = self._page
        if page.imagedepth != 1 or (page.planarconfig != 1 and page.samplesperpixel > 1):
            raise BadRequest("planar or 3D TIFF pages are not supported", "image")
        try:
            yield from self._bands(page)
        except BadRequest:
            raise
        except Exception as error:  # a corrupt or truncated stream, whichever codec tifffile used
            raise BadRequest(f"the TIFF could not be decoded ({_short(error)})", "image") from None

    def _bands(self, page) -> Iterator[np.ndarray]:
        segments = page.segments(maxworkers=2, buffersize=READ_BUFFER_BYTES)
        if not page.is_tiled:
            for strip, _index, _shape in segments:
                yield to_rgb(strip[0])
            return
        across = -(-self.width_px // self.tile_width_px)
        band, placed = None, 0
        for tile, index, _shape in segments:
            if band is None:
                band = np.full((self.tile_height_px, across * self.tile_width_px, 3), 255, np.uint8)
            x = index[3]
            if tile is not None:
                band[:, x:x + self.tile_width_px] = to_rgb(tile[0])
            placed += 1
            if placed == across:
                top = index[2]
                yield band[:min(self.tile_height_px, self.height_px - top), :self.width_px]
                band, placed = None, 0


class _ThreadErrors(logging.Handler):
    """Errors tifffile logs (not raises) in this thread, e.g. an IFD offset past the end of a cut file."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.thread, self.messages = threading.get_ident(), []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())


def open_tiff(path: str) -> Slide:
    import tifffile

    errors = _ThreadErrors()
    logger = logging.getLogger("tifffile")
    logger.addHandler(errors)
    try:
        tif = tifffile.TiffFile(path)
    except Exception as error:  # tifffile raises many kinds on a broken file
        logger.removeHandler(errors)
        raise BadRequest(f"not a readable TIFF ({_short(error)})", "image") from None
    try:
        slide = _slide(tif)
        if errors.messages:
            raise BadRequest(f"the TIFF is truncated or damaged ({errors.messages[0][-100:]})", "image")
        return slide
    except BadRequest:
        tif.close()
        raise
    except Exception as error:
        tif.close()
        raise BadRequest(f"the TIFF could not be read ({_short(error)})", "image") from None
    finally:
        logger.removeHandler(errors)


def _slide(tif) -> Slide:
    if not tif.series:
        raise BadRequest("the TIFF holds no image", "image")
    main = tif.series[0]
    levels = [TiffLevel(level.keyframe) for level in main.levels]
    size = tif.filehandle.size
    for level in main.levels:
        page = level.keyframe
        if any(o + c > size for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)):
            raise BadRequest("the TIFF is truncated: its tiles or strips end after the end of the file", "image")
    # Keep the levels that really are smaller versions of the first (tifffile lists every reduced page).
    levels = [lv for i, lv in enumerate(levels) if i == 0 or lv.width_px < levels[i - 1].width_px]
    slide = Slide(levels=levels, closers=[tif.close])
    for series in tif.series[1:]:
        kind = _ASSOCIATED.get((series.name or "").lower())
        if kind and kind not in slide.associated:
            slide.associated[kind] = to_rgb(series.asarray())
    slide.description = str(main.keyframe.description or "")[:1000]
    slide.mpp, slide.objective_power = _physical(tif, main.keyframe)
    icc = main.keyframe.tags.get(34675)
    slide.icc_profile = bytes(icc.value) if icc is not None else None
    return slide


def _physical(tif, page) -> tuple[tuple[float, float] | None, float | None]:
    """Microns per pixel and objective power: Aperio's description first, then the resolution tags."""
    description = str(page.description or "")
    mpp = re.search(r"\|\s*MPP\s*=\s*([0-9.]+)", description)
    power = re.search(r"\|\s*AppMag\s*=\s*([0-9.]+)", description)
    objective = float(power.group(1)) if power else None
    if mpp and float(mpp.group(1)) > 0:
        return (float(mpp.group(1)),) * 2, objective
    unit = page.tags.get(296)
    xres, yres = page.tags.get(282), page.tags.get(283)
    per_unit = {2: 25400.0, 3: 10000.0}.get(int(unit.value) if unit else 2)
    if per_unit and xres and yres and unit is not None:
        x, y = (value[0] / value[1] if value[1] else 0 for value in (xres.value, yres.value))
        # 72 dpi and the like are a default, not a microscope: only spacings a slide can have count.
        if x > 0 and y > 0 and max(per_unit / x, per_unit / y) < 100:
            return (per_unit / x, per_unit / y), objective
    return None, objective


def _short(error: BaseException) -> str:
    return str(error).splitlines()[0][:120] if str(error) else type(error).__name__
