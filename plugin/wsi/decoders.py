"""DICOM frame bytes -> numpy samples (pure): one decode function per transfer syntax, from one table.

Each frame's header is checked against the tags before a decoder sees it (stream_headers.py); the rules
behind each decoder's colour handling are in docs/codec.md.
"""

from __future__ import annotations

from collections.abc import Callable

import imagecodecs
import numpy as np

from . import transfer_syntaxes as ts
from .colour import label_to_rgb
from .errors import DecodeError, UnsupportedFeature, UnsupportedTransferSyntax
from .markers import jpeg_stream_colour
from .native_frames import decode_native
from .pixel_format import PixelFormat, sample_dtype
from .stream_headers import DEFAULT_MAX_FRAME_PIXELS, check_stream


def decode_frame(data: bytes, fmt: PixelFormat, *, big_endian_bytes: bool = False,
                 max_pixels: int = DEFAULT_MAX_FRAME_PIXELS) -> np.ndarray:
    """Native samples of one frame: (rows, cols) or (rows, cols, 3) RGB, dtype as stored.

    max_pixels: frames larger than this, by their tags or their stream's header, are refused before decoding
    (WholeSlideImaging.MaxFramePixels).

    big_endian_bytes: for 1.2.840.10008.1.2.2 frames taken from the file itself; Orthanc's
    /frames/{n}/raw already returns them in little-endian order (measured, docs/codec.md).
    """
    decoder = _DECODERS.get(fmt.transfer_syntax)
    if decoder is None:
        raise UnsupportedTransferSyntax(f"no decoder for transfer syntax {fmt.transfer_syntax}")
    if fmt.samples_per_pixel not in (1, 3):
        raise UnsupportedTransferSyntax(f"{fmt.samples_per_pixel} samples per pixel")
    if fmt.rows * fmt.columns > max_pixels:
        raise UnsupportedFeature(f"frames of {fmt.columns} x {fmt.rows} pixels are over the limit of {max_pixels} "
                                 "(WholeSlideImaging.MaxFramePixels)")
    # Before any decoder allocates from the stream's own header (docs/codec.md, "Corrupt frames").
    check_stream(data, fmt.transfer_syntax, fmt.rows, fmt.columns, fmt.samples_per_pixel, fmt.bits_allocated,
                 max_pixels)
    try:
        if fmt.transfer_syntax in ts.NATIVE_SYNTAXES:
            arr = decode_native(data, fmt, ">" if big_endian_bytes else "<")
        else:
            arr = decoder(data, fmt)
    except (UnsupportedTransferSyntax, DecodeError):
        raise
    except Exception as exc:  # imagecodecs raises RuntimeError/ValueError subclasses per codec
        raise DecodeError(f"cannot decode {fmt.transfer_syntax} frame: {exc}") from exc
    return _check_shape(_fit_bits(arr, fmt), fmt)


def _decode_rle(data: bytes, fmt: PixelFormat) -> np.ndarray:
    # RLE segments are always one plane per sample (PS3.5 G.2), whatever PlanarConfiguration says.
    decoded = imagecodecs.dicomrle_decode(data, sample_dtype(fmt))
    arr = np.frombuffer(decoded, sample_dtype(fmt), fmt.rows * fmt.columns * fmt.samples_per_pixel)
    if fmt.samples_per_pixel == 1:
        return arr.reshape(fmt.rows, fmt.columns)
    return _labelled(arr.reshape(3, fmt.rows, fmt.columns).transpose(1, 2, 0), fmt)


def _decode_jpeg(data: bytes, fmt: PixelFormat) -> np.ndarray:
    # libjpeg converts YCbCr -> RGB when the stream says so (JFIF, Adobe, R/G/B ids); when it says
    # nothing, libjpeg guesses YCbCr, so a stream labelled RGB is decoded without conversion.
    if fmt.samples_per_pixel == 3 and fmt.photometric == "RGB" and jpeg_stream_colour(data) is None:
        return imagecodecs.jpeg8_decode(data, colorspace="RGB", outcolorspace="RGB")
    return imagecodecs.jpeg8_decode(data)


def _decode_jpeg_lossless(data: bytes, fmt: PixelFormat) -> np.ndarray:
    # Lossless JPEG has no colour transform of its own: decode samples as stored, the label decides.
    try:
        if fmt.samples_per_pixel == 3:
            arr = imagecodecs.jpeg8_decode(data, colorspace="RGB", outcolorspace="RGB")
        else:
            arr = imagecodecs.jpeg8_decode(data)
    except Exception:  # odd streams libjpeg-turbo refuses; not ljpeg_decode: hostile bytes crash it
        arr = imagecodecs.jpegsof3_decode(data)
    return _labelled(np.asarray(arr), fmt)


def _decode_jpegls(data: bytes, fmt: PixelFormat) -> np.ndarray:
    return _labelled(imagecodecs.jpegls_decode(data), fmt)


def _decode_jpeg2k(data: bytes, fmt: PixelFormat) -> np.ndarray:
    # The codestream's MCT flag decides; openjpeg undoes ICT/RCT itself. Labels are not trusted
    # (OrthancWSIDicomizer 1.1 labels plain RGB codestreams YBR_FULL_422), so no conversion here.
    return imagecodecs.jpeg2k_decode(data)


def _decode_jpegxl(data: bytes, fmt: PixelFormat) -> np.ndarray:
    return imagecodecs.jpegxl_decode(data)  # libjxl returns RGB whatever the label (XYB/YCbCr inside)


def _labelled(arr: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    return label_to_rgb(arr, fmt.photometric, fmt.bits_stored)


_DECODERS: dict[str, Callable[[bytes, PixelFormat], np.ndarray]] = {
    ts.IMPLICIT_LE: decode_native,
    ts.EXPLICIT_LE: decode_native,
    ts.DEFLATED_LE: decode_native,  # Orthanc's /frames/{n}/raw returns inflated pixels (measured)
    ts.EXPLICIT_BE: decode_native,  # ... and little-endian words for big endian files (measured)
    ts.JPEG_BASELINE: _decode_jpeg,
    ts.JPEG_EXTENDED: _decode_jpeg,
    ts.JPEG_LOSSLESS: _decode_jpeg_lossless,
    ts.JPEG_LOSSLESS_SV1: _decode_jpeg_lossless,
    ts.JPEG_LS_LOSSLESS: _decode_jpegls,
    ts.JPEG_LS_NEAR: _decode_jpegls,
    ts.JPEG2000_LOSSLESS: _decode_jpeg2k,
    ts.JPEG2000: _decode_jpeg2k,
    # openjpeg for HTJ2K too: OpenJPH (htj2k_decode) is faster but died of SIGFPE/SIGSEGV on hostile
    # codestreams, and does not clip its lossy path (docs/codec.md).
    ts.HTJ2K_LOSSLESS: _decode_jpeg2k,
    ts.HTJ2K_LOSSLESS_RPCL: _decode_jpeg2k,
    ts.HTJ2K: _decode_jpeg2k,
    ts.JPEGXL_LOSSLESS: _decode_jpegxl,
    ts.JPEGXL_JPEG: _decode_jpegxl,
    ts.JPEGXL: _decode_jpegxl,
    ts.RLE_LOSSLESS: _decode_rle,
}


def _fit_bits(arr: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """Keep only BitsStored bits: mask unsigned samples, sign-extend signed ones (PS3.5 8.1.1)."""
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    width = arr.dtype.itemsize * 8
    stored = fmt.bits_stored
    if arr.dtype.kind == "b" or not 0 < stored < width or fmt.bits_allocated == 1:
        return arr
    if fmt.pixel_representation and arr.dtype.kind == "u":
        arr = arr.view(arr.dtype.str.replace("u", "i"))
    if arr.dtype.kind == "i":
        shift = width - stored
        return (arr << shift) >> shift
    return arr & np.array((1 << stored) - 1, arr.dtype)


def _check_shape(arr: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    expected = (fmt.rows, fmt.columns) + ((3,) if fmt.samples_per_pixel == 3 else ())
    if fmt.rows and fmt.columns and arr.shape != expected:
        raise DecodeError(f"decoded frame has shape {arr.shape}, expected {expected}")
    return arr
