"""Source slides for the DICOM-izer tests, written with tifffile and Pillow (no fixture files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

MPP = 0.5
APP_MAG = 20


def pattern(width: int, height: int, seed: int = 1) -> np.ndarray:
    """Smooth colours plus a few sharp shapes: JPEG-friendly, yet every tile differs."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (128 + 100 * np.sin(x / 97.0 + seed)).astype(np.uint8)
    image[..., 1] = (128 + 100 * np.cos(y / 71.0)).astype(np.uint8)
    image[..., 2] = ((x + 2 * y) % 256).astype(np.uint8)
    rng = np.random.default_rng(seed)
    for _ in range(12):
        cx, cy = rng.integers(0, width), rng.integers(0, height)
        image[max(0, cy - 20):cy + 20, max(0, cx - 30):cx + 30] = rng.integers(0, 255, 3)
    return image


def _downsample(image: np.ndarray, factor: int) -> np.ndarray:
    height, width = image.shape[:2]
    size = (-(-width // factor), -(-height // factor))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BOX))


def aperio_tiff(path: Path, width: int = 1000, height: int = 760, tile: int = 256, factors=(1, 2, 4),
                associated: bool = True, bigtiff: bool = False) -> dict:
    """An SVS-like pyramidal TIFF: JPEG tiles (YCbCr 4:2:0), levels, thumbnail, label and macro, MPP, AppMag.

    Returns the level images and associated images written (the JPEG tiles' decoded pixels are what a reader
    must give back).
    """
    base = pattern(width, height)
    levels = [_downsample(base, f) for f in factors]
    label = np.full((200, 300, 3), 240, np.uint8)
    label[60:140, 30:270] = (20, 20, 120)
    macro = _downsample(base, max(1, width // 500))
    thumbnail = _downsample(base, max(1, width // 200))
    jpeg = {"compression": "jpeg", "compressionargs": {"level": 90}, "photometric": "rgb", "metadata": None}
    head = f"Aperio Image Library v12.0.15\r\n{width}x{height} [0,0 {width}x{height}] ({tile}x{tile}) JPEG/RGB Q=90"
    with tifffile.TiffWriter(path, bigtiff=bigtiff) as tif:
        for index, level in enumerate(levels):
            description = f"{head}|AppMag = {APP_MAG}|MPP = {MPP}" if index == 0 else head
            tif.write(level, tile=(tile, tile), description=description, **jpeg)
            if index == 0 and associated:
                tif.write(thumbnail, description=head, **jpeg)
        if associated:
            tif.write(label, compression="lzw", photometric="rgb", subfiletype=1, metadata=None,
                      description=f"Aperio Image Library v12.0.15\r\nlabel {label.shape[1]}x{label.shape[0]}")
            tif.write(macro, subfiletype=9, **jpeg,
                      description=f"Aperio Image Library v12.0.15\r\nmacro {macro.shape[1]}x{macro.shape[0]}")
    return {"levels": levels, "label": label, "macro": macro, "thumbnail": thumbnail}


def decoded_levels(path: Path) -> list[np.ndarray]:
    """The source's own pixels, level by level, as tifffile decodes them."""
    with tifffile.TiffFile(path) as tif:
        return [level.asarray() for level in tif.series[0].levels]
