"""What the DICOM-izer reads: a slide as levels of tiles or bands, associated images, physical facts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

# Refused before anything is decoded: no real slide is this wide or tall, and a band of tiles this wide is what
# the writer holds (width x tile height x 3 bytes, a few times).
MAX_SIDE_PX = 1 << 19


@dataclass(frozen=True)
class JpegTiles:
    """A level stored as JPEG tiles that can be copied as they are: `tile(col, row)` gives a whole stream."""

    width_px: int
    height_px: int
    photometric: str  # DICOM PhotometricInterpretation of the streams: YBR_FULL_422, YBR_FULL or RGB


class SourceLevel(Protocol):
    width_px: int
    height_px: int
    tile_width_px: int  # the source's natural tile (or strip) width; the image width when not tiled
    tile_height_px: int

    def bands(self) -> Iterator[np.ndarray]:
        """RGB uint8 rows from top to bottom, in bands of any height, exactly `width_px` wide."""
        ...

    def jpeg_tiles(self) -> JpegTiles | None:
        """Set when the level's tiles are JPEG streams that can go into DICOM untouched."""
        ...

    def jpeg_tile(self, column: int, row: int) -> bytes:
        """The complete JPEG stream of a tile (tables included), for levels with `jpeg_tiles`."""
        ...


@dataclass
class Slide:
    """An opened source; `close` releases its file."""

    levels: list[SourceLevel]  # finest first
    associated: dict[str, np.ndarray] = field(default_factory=dict)  # "label", "overview", "thumbnail"
    associated_jpeg: dict[str, bytes] = field(default_factory=dict)  # the same, when stored as whole JPEG
    mpp: tuple[float, float] | None = None  # microns per pixel (x, y) at the finest level
    objective_power: float | None = None
    icc_profile: bytes | None = None
    description: str = ""
    closers: list = field(default_factory=list)

    def close(self) -> None:
        for close in self.closers:
            close()


def check_size(width_px: int, height_px: int) -> None:
    from ..errors import BadRequest

    if width_px < 1 or height_px < 1:
        raise BadRequest(f"the image is {width_px}x{height_px} pixels: nothing to convert", "image")
    if width_px > MAX_SIDE_PX or height_px > MAX_SIDE_PX:
        raise BadRequest(f"the image is {width_px}x{height_px} pixels: over {MAX_SIDE_PX} on a side", "image")


def to_rgb(array: np.ndarray) -> np.ndarray:
    """Any 8-bit grey, grey+alpha, RGB or RGBA array as RGB (alpha dropped: slides are opaque)."""
    if array.dtype != np.uint8:
        if array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        elif array.dtype == bool:
            array = array.astype(np.uint8) * 255
        else:
            from ..errors import BadRequest

            raise BadRequest(f"samples of type {array.dtype} are not supported (8-bit or 16-bit only)", "image")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    if array.shape[2] == 2:
        return np.repeat(array[:, :, :1], 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")


def open_slide(path: str) -> Slide:
    """Open a slide by its content: tifffile for TIFF (unless OpenSlide knows a scanner format tifffile reads
    badly), Pillow for other single images, OpenSlide for the rest; 400 when nothing reads it."""
    from .flat_source import open_flat
    from .openslide_source import open_openslide, openslide_format
    from .tiff_source import open_tiff

    with open(path, "rb") as handle:
        magic = handle.read(4)
    vendor = openslide_format(path)
    if magic in _TIFF_MAGIC and vendor in (None, "aperio", "generic-tiff"):
        return open_tiff(path)
    if vendor is not None:
        return open_openslide(path)
    return open_flat(path)
