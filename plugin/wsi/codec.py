"""DICOM frame bytes -> numpy arrays (one table per transfer syntax), colour rules, passthrough (pure).

The rules behind each choice (colour labels, 16 -> 8 bits, passthrough, speed) are in docs/codec.md.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import imagecodecs
import numpy as np

from .errors import DecodeError, UnsupportedFeature, UnsupportedTransferSyntax
from .markers import jpeg_header, jpeg_stream_colour
from .stream_headers import MAX_FRAME_PIXELS, check_stream

log = logging.getLogger(__name__)

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR = "1.2.840.10008.1.2.4.81"
JPEG2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
JPEG2000 = "1.2.840.10008.1.2.4.91"
JPEGXL_LOSSLESS = "1.2.840.10008.1.2.4.110"
JPEGXL_JPEG = "1.2.840.10008.1.2.4.111"
JPEGXL = "1.2.840.10008.1.2.4.112"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_LOSSLESS_RPCL = "1.2.840.10008.1.2.4.202"
HTJ2K = "1.2.840.10008.1.2.4.203"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"

YBR_LABELS = ("YBR_FULL", "YBR_FULL_422")
# Orthanc's /tags leaves binary tags null; fetch these with /instances/{id}/content/{tag} for PALETTE COLOR.
PALETTE_DATA_TAGS = ("0028-1201", "0028-1202", "0028-1203")
_PALETTE_DESCRIPTORS = ("0028,1101", "0028,1102", "0028,1103")


@dataclass(frozen=True)
class PixelFormat:
    transfer_syntax: str
    photometric: str
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int  # 0 unsigned, 1 signed
    planar_configuration: int
    rows: int
    columns: int
    # Decoded R, G, B LUTs (uint16) and the pixel value mapped to their first entry; not compared or hashed.
    palette: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, compare=False)
    palette_first: int = 0
    palette_bits: int = 16

    @classmethod
    def from_dicom_json(
        cls,
        tags: Mapping[str, Any],
        transfer_syntax: str,
        palette_data: tuple[bytes, bytes, bytes] | None = None,
    ) -> PixelFormat:
        """Build from Orthanc `tags?short` (also full `tags` or DICOMweb JSON).

        palette_data: raw (0028,1201..1203) values, needed because Orthanc returns them as null.
        """
        get = TagReader(tags)
        photometric = (get.text("0028,0004") or "MONOCHROME2").strip().upper()
        bits_allocated = get.integer("0028,0100", 8)
        palette, first, bits = None, 0, 16
        if photometric == "PALETTE COLOR":
            palette, first, bits = _read_palette(get, palette_data)
        return cls(
            transfer_syntax=transfer_syntax.strip().rstrip("\0"),
            photometric=photometric,
            samples_per_pixel=get.integer("0028,0002", 1),
            bits_allocated=bits_allocated,
            bits_stored=get.integer("0028,0101", bits_allocated),
            pixel_representation=get.integer("0028,0103", 0),
            planar_configuration=get.integer("0028,0006", 0),
            rows=get.integer("0028,0010", 0),
            columns=get.integer("0028,0011", 0),
            palette=palette,
            palette_first=first,
            palette_bits=bits,
        )

    @classmethod
    def from_dataset(cls, ds: Any) -> PixelFormat:
        """Build from a pydicom Dataset (palette LUT data included)."""
        raw = tuple(
            bytes(ds.get(f"{c}PaletteColorLookupTableData", b"") or b"") for c in ("Red", "Green", "Blue")
        )
        tags = {
            "0028,0004": str(ds.get("PhotometricInterpretation", "MONOCHROME2")),
            "0028,0002": ds.get("SamplesPerPixel", 1),
            "0028,0100": ds.get("BitsAllocated", 8),
            "0028,0101": ds.get("BitsStored", ds.get("BitsAllocated", 8)),
            "0028,0103": ds.get("PixelRepresentation", 0),
            "0028,0006": ds.get("PlanarConfiguration", 0),
            "0028,0010": ds.Rows,
            "0028,0011": ds.Columns,
        }
        for key, name in zip(_PALETTE_DESCRIPTORS, ("Red", "Green", "Blue"), strict=True):
            descriptor = ds.get(f"{name}PaletteColorLookupTableDescriptor")
            if descriptor is not None:
                tags[key] = "\\".join(str(v) for v in descriptor)
        ts = str(ds.file_meta.TransferSyntaxUID)
        return cls.from_dicom_json(tags, ts, raw if all(raw) else None)  # type: ignore[arg-type]

    @property
    def needs_palette_data(self) -> bool:
        return self.photometric == "PALETTE COLOR" and self.palette is None


class TagReader:
    """Reads plain values from Orthanc short/full tag JSON or DICOMweb JSON, whatever the key spelling."""

    def __init__(self, tags: Mapping[str, Any]) -> None:
        self._tags = {k.replace(",", "").replace("-", "").upper(): v for k, v in tags.items()}

    def raw(self, tag: str) -> Any:
        value = self._tags.get(tag.replace(",", "").upper())
        if isinstance(value, dict):  # Orthanc full format {"Value": ...} or DICOMweb {"vr", "Value"}
            if "InlineBinary" in value:
                return base64.b64decode(value["InlineBinary"])
            value = value.get("Value")
            if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], dict):
                value = value[0]
            elif isinstance(value, list) and all(not isinstance(v, dict) for v in value):
                value = "\\".join(str(v) for v in value)
        return value

    def has(self, tag: str) -> bool:
        return self.raw(tag) is not None

    def sequence(self, tag: str) -> list[dict[str, Any]]:
        value = self._tags.get(tag.replace(",", "").upper())
        if isinstance(value, dict):
            value = value.get("Value")
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

    def text(self, tag: str) -> str | None:
        value = self.raw(tag)
        return None if value is None else str(value)

    def numbers(self, tag: str) -> list[float]:
        value = self.text(tag)
        return [float(v) for v in value.split("\\") if v.strip()] if value else []

    def integer(self, tag: str, default: int) -> int:
        values = self.numbers(tag)
        return int(values[0]) if values else default


def _read_palette(
    get: TagReader, palette_data: tuple[bytes, bytes, bytes] | None
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray] | None, int, int]:
    descriptor = get.numbers(_PALETTE_DESCRIPTORS[0])
    if len(descriptor) != 3:
        return None, 0, 16
    entries = int(descriptor[0]) or 65536  # PS3.3 C.7.6.3.1.5: 0 means 2^16 entries
    first, bits = int(descriptor[1]), int(descriptor[2])
    raw = palette_data or tuple(get.raw(f"0028,120{i}") for i in (1, 2, 3))
    if not all(isinstance(r, bytes | bytearray) and r for r in raw):
        return None, first, bits
    luts = tuple(_palette_lut(bytes(r), entries) for r in raw)
    return luts, first, bits  # type: ignore[return-value]


def _palette_lut(data: bytes, entries: int) -> np.ndarray:
    if len(data) == entries:  # 8-bit entries stored one per byte
        return np.frombuffer(data, np.uint8).astype(np.uint16)
    if len(data) < 2 * entries:
        raise DecodeError(f"palette LUT has {len(data)} bytes for {entries} entries")
    return np.frombuffer(data[: 2 * entries], "<u2").astype(np.uint16)


# ----------------------------------------------------------------------------------------------- decoding


def decode_frame(data: bytes, fmt: PixelFormat, *, big_endian_bytes: bool = False) -> np.ndarray:
    """Native samples of one frame: (rows, cols) or (rows, cols, 3) RGB, dtype as stored.

    big_endian_bytes: for 1.2.840.10008.1.2.2 frames taken from the file itself; Orthanc's
    /frames/{n}/raw already returns them in little-endian order (measured, docs/codec.md).
    """
    decoder = _DECODERS.get(fmt.transfer_syntax)
    if decoder is None:
        raise UnsupportedTransferSyntax(f"no decoder for transfer syntax {fmt.transfer_syntax}")
    if fmt.samples_per_pixel not in (1, 3):
        raise UnsupportedTransferSyntax(f"{fmt.samples_per_pixel} samples per pixel")
    if fmt.rows * fmt.columns > MAX_FRAME_PIXELS:
        raise UnsupportedFeature(f"frames of {fmt.columns} x {fmt.rows} pixels are over the limit")
    # Before any decoder allocates from the stream's own header (docs/codec.md, "Corrupt frames").
    check_stream(data, fmt.transfer_syntax, fmt.rows, fmt.columns, fmt.samples_per_pixel, fmt.bits_allocated)
    try:
        if decoder is _decode_native:
            arr = _decode_native(data, fmt, ">" if big_endian_bytes else "<")
        else:
            arr = decoder(data, fmt)
    except (UnsupportedTransferSyntax, DecodeError):
        raise
    except Exception as exc:  # imagecodecs raises RuntimeError/ValueError subclasses per codec
        raise DecodeError(f"cannot decode {fmt.transfer_syntax} frame: {exc}") from exc
    return _check_shape(_fit_bits(arr, fmt), fmt)


def _dtype(fmt: PixelFormat, byteorder: str = "<") -> np.dtype:
    if fmt.bits_allocated not in (8, 16, 32):
        raise UnsupportedTransferSyntax(f"{fmt.bits_allocated} bits allocated")
    kind = "i" if fmt.pixel_representation else "u"
    return np.dtype(f"{byteorder}{kind}{fmt.bits_allocated // 8}")


def _decode_native(data: bytes, fmt: PixelFormat, byteorder: str = "<") -> np.ndarray:
    rows, cols, spp = fmt.rows, fmt.columns, fmt.samples_per_pixel
    if fmt.bits_allocated == 1:  # segmentation-style bit planes, little bit order (PS3.5 8.1.1)
        bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
        return bits[: rows * cols].reshape(rows, cols)
    dtype = _dtype(fmt, byteorder)
    if fmt.photometric == "YBR_FULL_422" and spp == 3:
        return _ybr422_to_rgb(np.frombuffer(data, dtype, rows * cols * 2), fmt)
    arr = np.frombuffer(data, dtype, rows * cols * spp).astype(dtype.newbyteorder("="), copy=False)
    if spp == 1:
        return arr.reshape(rows, cols)
    if fmt.planar_configuration == 1:
        arr = arr.reshape(3, rows, cols).transpose(1, 2, 0)
    return _label_to_rgb(arr.reshape(rows, cols, 3), fmt)


def _decode_rle(data: bytes, fmt: PixelFormat) -> np.ndarray:
    # RLE segments are always one plane per sample (PS3.5 G.2), whatever PlanarConfiguration says.
    decoded = imagecodecs.dicomrle_decode(data, _dtype(fmt, "<"))
    arr = np.frombuffer(decoded, _dtype(fmt, "<"), fmt.rows * fmt.columns * fmt.samples_per_pixel)
    if fmt.samples_per_pixel == 1:
        return arr.reshape(fmt.rows, fmt.columns)
    return _label_to_rgb(arr.reshape(3, fmt.rows, fmt.columns).transpose(1, 2, 0), fmt)


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
    return _label_to_rgb(np.asarray(arr), fmt)


def _decode_jpegls(data: bytes, fmt: PixelFormat) -> np.ndarray:
    return _label_to_rgb(imagecodecs.jpegls_decode(data), fmt)


def _decode_jpeg2k(data: bytes, fmt: PixelFormat) -> np.ndarray:
    # The codestream's MCT flag decides; openjpeg undoes ICT/RCT itself. Labels are not trusted
    # (OrthancWSIDicomizer 1.1 labels plain RGB codestreams YBR_FULL_422), so no conversion here.
    return imagecodecs.jpeg2k_decode(data)


def _decode_jpegxl(data: bytes, fmt: PixelFormat) -> np.ndarray:
    return imagecodecs.jpegxl_decode(data)  # libjxl returns RGB whatever the label (XYB/YCbCr inside)


_DECODERS: dict[str, Callable[[bytes, PixelFormat], np.ndarray]] = {
    IMPLICIT_LE: _decode_native,
    EXPLICIT_LE: _decode_native,
    DEFLATED_LE: _decode_native,  # Orthanc's /frames/{n}/raw returns inflated pixels (measured)
    EXPLICIT_BE: _decode_native,  # ... and little-endian words for big endian files (measured)
    JPEG_BASELINE: _decode_jpeg,
    JPEG_EXTENDED: _decode_jpeg,
    JPEG_LOSSLESS: _decode_jpeg_lossless,
    JPEG_LOSSLESS_SV1: _decode_jpeg_lossless,
    JPEG_LS_LOSSLESS: _decode_jpegls,
    JPEG_LS_NEAR: _decode_jpegls,
    JPEG2000_LOSSLESS: _decode_jpeg2k,
    JPEG2000: _decode_jpeg2k,
    # openjpeg for HTJ2K too: OpenJPH (htj2k_decode) is faster but died of SIGFPE/SIGSEGV on hostile
    # codestreams, and does not clip its lossy path (docs/codec.md).
    HTJ2K_LOSSLESS: _decode_jpeg2k,
    HTJ2K_LOSSLESS_RPCL: _decode_jpeg2k,
    HTJ2K: _decode_jpeg2k,
    JPEGXL_LOSSLESS: _decode_jpegxl,
    JPEGXL_JPEG: _decode_jpegxl,
    JPEGXL: _decode_jpegxl,
    RLE_LOSSLESS: _decode_rle,
}
SUPPORTED_TRANSFER_SYNTAXES = frozenset(_DECODERS)
NATIVE_SYNTAXES = frozenset({IMPLICIT_LE, EXPLICIT_LE, DEFLATED_LE, EXPLICIT_BE})


def orthanc_cannot_split(fmt: PixelFormat) -> bool:
    """Native YBR_FULL_422: Orthanc 1.10 sizes its frames as 3 samples per pixel, not 2, and answers
    /frames/{n}/raw with "Bad file format"; such frames are cut from the whole pixel data instead."""
    return fmt.transfer_syntax in NATIVE_SYNTAXES and fmt.photometric == "YBR_FULL_422" \
        and fmt.samples_per_pixel == 3


def native_frame_size(fmt: PixelFormat) -> int:
    """Bytes of one native frame (YBR_FULL_422 stores 2 samples per pixel: Y1 Y2 Cb Cr per pair)."""
    samples = 2 if fmt.photometric == "YBR_FULL_422" and fmt.samples_per_pixel == 3 else fmt.samples_per_pixel
    return fmt.rows * fmt.columns * samples * _dtype(fmt).itemsize


def cut_native_frame(pixel_data: bytes, fmt: PixelFormat, frame: int) -> bytes:
    """Frame `frame` (0-based) of native pixel data; DecodeError when the data is too short."""
    size = native_frame_size(fmt)
    if size <= 0 or len(pixel_data) < (frame + 1) * size:
        raise DecodeError(f"pixel data of {len(pixel_data)} bytes has no frame {frame} of {size} bytes")
    return pixel_data[frame * size:(frame + 1) * size]


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


# ------------------------------------------------------------------------------------------------- colour


def _label_to_rgb(arr: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """For codecs without a colour transform of their own: YBR_FULL(_422) labels mean YCbCr samples."""
    if arr.ndim == 3 and fmt.photometric in YBR_LABELS:
        return ybr_full_to_rgb(arr, fmt.bits_stored)
    return arr


def ybr_full_to_rgb(arr: np.ndarray, bits: int = 8) -> np.ndarray:
    """YBR_FULL -> RGB, ITU-R BT.601 full range (PS3.3 C.7.6.3.1.2), same dtype, rounded and clipped."""
    top = (1 << bits) - 1
    half = float(1 << (bits - 1))
    ybr = arr.astype(np.float32)
    y = ybr[..., 0]
    cb = ybr[..., 1] - half
    cr = ybr[..., 2] - half
    rgb = np.empty_like(ybr)
    rgb[..., 0] = y + 1.402 * cr
    rgb[..., 1] = y - 0.344136 * cb - 0.714136 * cr
    rgb[..., 2] = y + 1.772 * cb
    return np.clip(np.rint(rgb), 0, top).astype(arr.dtype)


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


def to_rgb8(pixels: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """uint8 HxWx3 for tiles: palette applied, BitsStored range scaled linearly, MONOCHROME1 inverted."""
    if fmt.photometric == "PALETTE COLOR":
        return apply_palette(pixels, fmt)
    out = to_8_bits(pixels, fmt)
    if out.ndim == 2:
        if fmt.photometric == "MONOCHROME1":
            out = 255 - out
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.ascontiguousarray(out)


def to_8_bits(pixels: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """Scale the BitsStored range linearly to 0..255 (signed: lowest value -> 0), rounding."""
    stored = max(1, min(fmt.bits_stored, pixels.dtype.itemsize * 8))
    if pixels.dtype == np.uint8 and stored == 8:
        return pixels
    top = (1 << stored) - 1
    offset = (1 << (stored - 1)) if pixels.dtype.kind == "i" else 0
    lut = ((np.arange(top + 1, dtype=np.uint32) * 255 + top // 2) // top).astype(np.uint8)
    index = pixels.astype(np.int64) + offset if offset else pixels
    return lut[np.clip(index, 0, top)]


def apply_palette(pixels: np.ndarray, fmt: PixelFormat) -> np.ndarray:
    """PALETTE COLOR -> uint8 RGB (PS3.3 C.7.6.3.1.5: values below/above the LUT use its ends)."""
    if fmt.palette is None:
        raise UnsupportedFeature("PALETTE COLOR frame without palette LUT data (see PALETTE_DATA_TAGS)")
    lut = np.stack(fmt.palette, axis=1)
    if fmt.palette_bits > 8 or lut.max(initial=0) > 255:
        lut = lut >> 8
    index = np.clip(pixels.astype(np.int64) - fmt.palette_first, 0, len(lut) - 1)
    return np.ascontiguousarray(lut.astype(np.uint8)[index])


def can_pass_through_jpeg(fmt: PixelFormat, data: bytes | None = None) -> bool:
    """True when a browser would show the stored frame right as it is (8-bit JPEG, known colours).

    Without `data`, whether the format's frames may pass through: the answer with the frame's bytes
    decides (an RGB label needs markers that declare RGB, see docs/codec.md).
    """
    if fmt.transfer_syntax not in (JPEG_BASELINE, JPEG_EXTENDED):
        return False
    if fmt.bits_allocated != 8 or fmt.bits_stored != 8 or fmt.pixel_representation:
        return False
    if (fmt.samples_per_pixel, fmt.photometric) not in {
        (1, "MONOCHROME2"), (3, "YBR_FULL_422"), (3, "YBR_FULL"), (3, "RGB"),
    }:
        return False
    if data is None:
        return True
    try:
        header = jpeg_header(data)
    except DecodeError:
        return False
    if header.sof not in (0xC0, 0xC1, 0xC2) or header.precision != 8:
        return False  # lossless, arithmetic or 12-bit streams: browsers do not decode them
    if not header.components == len(header.component_ids) == fmt.samples_per_pixel:
        return False
    if fmt.rows and fmt.columns and (header.height, header.width) != (fmt.rows, fmt.columns):
        return False  # a header lying about its size goes to the decoder's guard, not to browsers
    return fmt.photometric != "RGB" or jpeg_stream_colour(data) is not None
