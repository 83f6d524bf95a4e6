"""Native (uncompressed) frames (pure): their layout in bytes, and frames Orthanc cannot cut for us."""

from __future__ import annotations

import numpy as np

from .colour import label_to_rgb, ybr_full_to_rgb
from .errors import DecodeError
from .pixel_format import PixelFormat, sample_dtype
from .transfer_syntaxes import NATIVE_SYNTAXES


def decode_native(data: bytes, fmt: PixelFormat, byteorder: str = "<") -> np.ndarray:
    """Samples of one native frame: (rows, cols) or (rows, cols, 3) RGB, dtype as stored."""
    rows, cols, spp = fmt.rows, fmt.columns, fmt.samples_per_pixel
    if fmt.bits_allocated == 1:  # segmentation-style bit planes, little bit order (PS3.5 8.1.1)
        bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
        return bits[: rows * cols].reshape(rows, cols)
    dtype = sample_dtype(fmt, byteorder)
    if fmt.photometric == "YBR_FULL_422" and spp == 3:
        return _ybr422_to_rgb(np.frombuffer(data, dtype, rows * cols * 2), fmt)
    arr = np.frombuffer(data, dtype, rows * cols * spp).astype(dtype.newbyteorder("="), copy=False)
    if spp == 1:
        return arr.reshape(rows, cols)
    if fmt.planar_configuration == 1:
        arr = arr.reshape(3, rows, cols).transpose(1, 2, 0)
    return label_to_rgb(arr.reshape(rows, cols, 3), fmt.photometric, fmt.bits_stored)


def _ybr422_to_rgb(flat: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """Native YBR_FULL_422: Y1 Y2 Cb Cr per pair of pixels (PS3.3 C.7.6.3.1.2); chroma repeated."""
    if fmt.columns % 2:
        raise DecodeError("YBR_FULL_422 needs an even number of columns")
    quads = flat.astype(flat.dtype.newbyteorder("="), copy=False).reshape(fmt.rows, fmt.columns // 2, 4)
    ybr = np.empty((fmt.rows, fmt.columns, 3), quads.dtype)
    ybr[:, 0::2, 0] = quads[..., 0]
    ybr[:, 1::2, 0] = quads[..., 1]
    ybr[..., 1] = np.repeat(quads[..., 2], 2, axis=1)
    ybr[..., 2] = np.repeat(quads[..., 3], 2, axis=1)
    return ybr_full_to_rgb(ybr, fmt.bits_stored)


def orthanc_cannot_split(fmt: PixelFormat) -> bool:
    """Native YBR_FULL_422: Orthanc 1.10 sizes its frames as 3 samples per pixel, not 2, and answers
    /frames/{n}/raw with "Bad file format"; such frames are cut from the whole pixel data instead."""
    return fmt.transfer_syntax in NATIVE_SYNTAXES and fmt.photometric == "YBR_FULL_422" \
        and fmt.samples_per_pixel == 3


def native_frame_size(fmt: PixelFormat) -> int:
    """Bytes of one native frame (YBR_FULL_422 stores 2 samples per pixel: Y1 Y2 Cb Cr per pair)."""
    samples = 2 if fmt.photometric == "YBR_FULL_422" and fmt.samples_per_pixel == 3 else fmt.samples_per_pixel
    return fmt.rows * fmt.columns * samples * sample_dtype(fmt).itemsize


def cut_native_frame(pixel_data: bytes, fmt: PixelFormat, frame: int) -> bytes:
    """Frame `frame` (0-based) of native pixel data; DecodeError when the data is too short."""
    size = native_frame_size(fmt)
    if size <= 0 or len(pixel_data) < (frame + 1) * size:
        raise DecodeError(f"pixel data of {len(pixel_data)} bytes has no frame {frame} of {size} bytes")
    return pixel_data[frame * size:(frame + 1) * size]
