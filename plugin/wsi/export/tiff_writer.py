"""Writing a SlideExport as a tiled pyramidal BigTIFF in the Aperio SVS layout, with tifffile.

Directory order (what OpenSlide's aperio reader and tifffile's SVS series expect): the finest level (tiled,
with the description OpenSlide reads MPP and AppMag from), the thumbnail (stripped), the other levels
(tiled), then the label (NewSubfileType 1) and the macro (9), stripped. Tiles are handed to tifffile one by
one as finished JPEG streams, so a level is never held whole; tifffile seeks back to fill in the offsets,
hence a seekable output (a spooled temporary file for the route).
"""

from __future__ import annotations

import logging
from typing import BinaryIO

import numpy as np
import tifffile

from . import aperio
from .slide import LevelPlan, SlideExport

log = logging.getLogger(__name__)

SOFTWARE = "orthanc-wsi-py"


def write_tiff(export: SlideExport, out: BinaryIO) -> None:
    """The whole export into `out` (seekable, positioned at its start)."""
    plans = export.levels()
    # A name of our own: tifffile wants one, and a temporary file without a name in the folder has an int.
    with tifffile.TiffWriter(tifffile.FileHandle(out, name="export.svs"), bigtiff=True) as tiff:
        for position, plan in enumerate(plans):
            _write_level(tiff, export, plan, first=position == 0)
            if position == 0:
                _write_stripped(tiff, export.thumbnail(), "thumbnail", subfiletype=0, describe=False)
        for kind, subfiletype in (("label", aperio.SUBFILE_LABEL), ("overview", aperio.SUBFILE_MACRO)):
            pixels = export.associated(kind)
            if pixels is not None:
                _write_stripped(tiff, pixels, "label" if kind == "label" else "macro", subfiletype)
    log.info("exported series %s: %d levels, %d tiles copied as stored, %d encoded", export.model.series_id,
             len(plans), export.counts.copied, export.counts.encoded)


def _write_level(tiff: tifffile.TiffWriter, export: SlideExport, plan: LevelPlan, first: bool) -> None:
    lv = plan.level
    tile = plan.tile
    quality = export.options.quality
    if first:
        mpp = export.mpp(0)
        description = aperio.base_description(lv.width, lv.height, tile, mpp[0] if mpp else None,
                                              export.model.objective_power, quality, export.model.series_id)
    else:
        base = export.model.levels[0].level
        description = aperio.level_description(base.width, base.height, tile, (lv.width, lv.height), quality)
    resolution = aperio.resolution_per_cm(_spacing_mm(export, plan.index))
    tiff.write(
        export.tiles(plan), shape=(lv.height, lv.width, 3), dtype=np.uint8, tile=(tile[1], tile[0]),
        photometric="rgb", compression="jpeg", subsampling=plan.coding.subsampling,
        compressionargs={"outcolorspace": plan.coding.tiff_colour}, description=description, metadata=None,
        software=SOFTWARE if first else None, **_resolution_args(resolution),
        iccprofile=export.frames.icc_profile(export.model) if first else None)


def _write_stripped(tiff: tifffile.TiffWriter, pixels: np.ndarray, name: str, subfiletype: int,
                    describe: bool = True) -> None:
    """An associated image, lossless (Deflate), as one directory of strips."""
    height, width = pixels.shape[:2]
    description = aperio.associated_description(name, width, height) if describe else \
        f"{aperio.HEADER}\r\n{width}x{height} thumbnail"
    tiff.write(np.ascontiguousarray(pixels), photometric="rgb", compression="zlib", subfiletype=subfiletype,
               description=description, metadata=None, rowsperstrip=64)


def _spacing_mm(export: SlideExport, level: int) -> tuple[float, float] | None:
    mpp = export.mpp(level)
    return None if mpp is None else (mpp[0] / 1000, mpp[1] / 1000)


def _resolution_args(resolution: tuple[float, float] | None) -> dict:
    return {} if resolution is None else {"resolution": resolution, "resolutionunit": "CENTIMETER"}
