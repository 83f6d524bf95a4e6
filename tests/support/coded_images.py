"""DICOM test images in every pixel coding the codec claims, with what a viewer must see (pydicom + imagecodecs).

A `Coding` is one transfer syntax x bit depth x photometric interpretation (x planar configuration).
`scene` makes the picture a coding stores (RGB, grey values or palette indices), `stored_samples` turns
it into the samples as the DICOM object holds them (YCbCr for YBR labels, chroma shared by pixel pairs
for YBR_FULL_422), `encode_frame` makes the frame bytes, and `expected_rgb8` / `expected_display`
compute what a tile / an IIIF frame must show, written here independently of the plugin's code.
`write_wsi` writes a small two-level TILED_FULL pyramid, `write_frame_image` a non-WSI Secondary
Capture image with a window (for /wsi/iiif/frames).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import imagecodecs
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_encoder
from pydicom.uid import UID, RLELossless, generate_uid

from tests.support import writer
from tests.support.source import textured_image

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
NATIVE_LE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99")
BIG_ENDIAN = "1.2.840.10008.1.2.2"
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422")
TILE = 256


@dataclass(frozen=True)
class Coding:
    """One pixel coding. Lossless codings must match exactly (max_error 0, or 1 for a YBR -> RGB
    rounding); lossy ones must reach min_psnr dB against the truth (after 16 -> 8 bits)."""

    syntax: str
    bits_stored: int
    photometric: str
    planar: int = 0
    max_error: int | None = 0
    min_psnr: float | None = None

    @property
    def samples(self) -> int:
        return 3 if self.photometric in COLOUR else 1

    @property
    def bits_allocated(self) -> int:
        return 8 if self.bits_stored <= 8 else 16

    @property
    def name(self) -> str:
        short = self.syntax.removeprefix("1.2.840.10008.")
        planar = "-planar" if self.planar else ""
        return f"{short}-{self.bits_stored}bit-{self.photometric.replace(' ', '_')}{planar}"


def _lossy(syntax: str, bits: int, photometric: str, psnr: float) -> Coding:
    return Coding(syntax, bits, photometric, max_error=None, min_psnr=psnr)


_TS = "1.2.840.10008.1.2"
# Every transfer syntax x bit depth x photometric the codec claims (docs/codec.md).
CODINGS: tuple[Coding, ...] = (
    # native: implicit/explicit/deflated little endian, big endian
    *(Coding(ts, bits, "MONOCHROME2") for ts in (*NATIVE_LE, BIG_ENDIAN) for bits in (8, 16)),
    *(Coding(ts, 8, "RGB") for ts in (*NATIVE_LE, BIG_ENDIAN)),
    Coding(f"{_TS}.1", 12, "MONOCHROME1"),
    Coding(f"{_TS}.1", 8, "PALETTE COLOR"),
    Coding(f"{_TS}.1", 8, "RGB", planar=1),
    Coding(f"{_TS}.1", 8, "YBR_FULL", max_error=1),
    Coding(f"{_TS}.1", 8, "YBR_FULL_422", max_error=1),
    # RLE
    Coding(f"{_TS}.5", 8, "RGB"), Coding(f"{_TS}.5", 16, "MONOCHROME2"), Coding(f"{_TS}.5", 8, "MONOCHROME1"),
    Coding(f"{_TS}.5", 8, "PALETTE COLOR"), Coding(f"{_TS}.5", 8, "YBR_FULL", max_error=1),
    # JPEG baseline / extended (lossy)
    _lossy(f"{_TS}.4.50", 8, "MONOCHROME2", 36), _lossy(f"{_TS}.4.50", 8, "YBR_FULL_422", 26),
    _lossy(f"{_TS}.4.50", 8, "YBR_FULL", 32), _lossy(f"{_TS}.4.50", 8, "RGB", 32),
    _lossy(f"{_TS}.4.51", 12, "MONOCHROME2", 40), _lossy(f"{_TS}.4.51", 8, "YBR_FULL_422", 26),
    # lossless JPEG
    *(Coding(f"{_TS}.4.{p}", bits, ph) for p in (57, 70)
      for bits, ph in ((16, "MONOCHROME2"), (12, "MONOCHROME2"), (8, "RGB"), (8, "MONOCHROME1"))),
    # JPEG-LS lossless and near-lossless (NEAR=2: at most 2 levels at 8 bits, < 1 level after 16 -> 8)
    Coding(f"{_TS}.4.80", 8, "RGB"), Coding(f"{_TS}.4.80", 16, "MONOCHROME2"),
    Coding(f"{_TS}.4.80", 8, "YBR_FULL", max_error=1),
    Coding(f"{_TS}.4.81", 8, "RGB", max_error=2), Coding(f"{_TS}.4.81", 16, "MONOCHROME2", max_error=1),
    # JPEG 2000 and HTJ2K
    Coding(f"{_TS}.4.90", 8, "RGB"), Coding(f"{_TS}.4.90", 16, "MONOCHROME2"),
    _lossy(f"{_TS}.4.91", 8, "RGB", 30), _lossy(f"{_TS}.4.91", 16, "MONOCHROME2", 40),
    Coding(f"{_TS}.4.201", 8, "RGB"), Coding(f"{_TS}.4.201", 16, "MONOCHROME2"),
    Coding(f"{_TS}.4.202", 8, "RGB"), Coding(f"{_TS}.4.202", 16, "MONOCHROME2"),
    _lossy(f"{_TS}.4.203", 8, "RGB", 30), _lossy(f"{_TS}.4.203", 16, "MONOCHROME2", 40),
    # JPEG XL: lossless, JPEG recompression (the JPEG's pixels exactly), lossy
    Coding(f"{_TS}.4.110", 8, "RGB"), Coding(f"{_TS}.4.110", 16, "MONOCHROME2"),
    _lossy(f"{_TS}.4.111", 8, "YBR_FULL_422", 26), _lossy(f"{_TS}.4.112", 8, "RGB", 30),
)


# ---- pictures and samples -----------------------------------------------------------------------------

def scene(coding: Coding, width: int, height: int, seed: int = 7) -> np.ndarray:
    """What the image shows, before any colour coding: RGB uint8, grey values, or palette indices."""
    rgb = textured_image(width, height, seed)
    if coding.samples == 3:
        return rgb
    top = (1 << coding.bits_stored) - 1
    grey = rgb[..., 1].astype(np.float64) / 255.0
    # A ramp across the full range plus the texture, so high and low bits both vary.
    ramp = np.linspace(0.0, 1.0, width)[None, :]
    values = np.clip(0.5 * grey + 0.5 * ramp, 0.0, 1.0) * top
    return np.rint(values).astype(np.uint8 if coding.bits_allocated == 8 else np.uint16)


def ybr_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """RGB -> YBR_FULL (PS3.3 C.7.6.3.1.2, BT.601 full range), uint8."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    return np.clip(np.rint(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)


def rgb_from_ybr(ybr: np.ndarray) -> np.ndarray:
    y, cb, cr = (ybr[..., i].astype(np.float64) for i in range(3))
    r = y + 1.402 * (cr - 128)
    g = y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128)
    b = y + 1.772 * (cb - 128)
    return np.clip(np.rint(np.stack([r, g, b], axis=-1)), 0, 255).astype(np.uint8)


def _codes_ybr_itself(coding: Coding) -> bool:
    """Codecs without a colour transform hold YCbCr samples when labelled YBR; JPEG's libjpeg converts."""
    return coding.photometric in ("YBR_FULL", "YBR_FULL_422") and not coding.syntax.startswith(f"{_TS}.4.5") \
        and coding.syntax != f"{_TS}.4.111"


def stored_samples(coding: Coding, picture: np.ndarray) -> np.ndarray:
    """The samples the DICOM object holds (before compression) for `picture`."""
    if not _codes_ybr_itself(coding):
        return picture
    ybr = ybr_from_rgb(picture)
    if coding.photometric == "YBR_FULL_422":  # one Cb, Cr per horizontal pair of pixels
        pairs = ybr[:, :, 1:].reshape(ybr.shape[0], -1, 2, 2).astype(np.float64).mean(axis=2)
        ybr[:, :, 1:] = np.repeat(np.rint(pairs).astype(np.uint8), 2, axis=1)
    return ybr


PALETTE = np.stack([  # 256-entry 16-bit LUTs: a rainbow, so index errors show
    np.rint(65535 * (0.5 + 0.5 * np.sin(np.arange(256) * 2 * np.pi / 256 + phase))).astype(np.uint16)
    for phase in (0.0, 2.1, 4.2)])


def expected_rgb8(coding: Coding, samples: np.ndarray) -> np.ndarray:
    """What a tile must show: uint8 HxWx3 (monochrome: BitsStored range scaled to 0..255, repeated)."""
    if coding.photometric == "PALETTE COLOR":
        return (PALETTE[:, samples] >> 8).astype(np.uint8).transpose(1, 2, 0)
    if coding.samples == 3:
        return rgb_from_ybr(samples) if _codes_ybr_itself(coding) else samples
    top = (1 << coding.bits_stored) - 1
    grey = np.rint(samples.astype(np.float64) * 255.0 / top).astype(np.uint8)
    if coding.photometric == "MONOCHROME1":
        grey = 255 - grey
    return np.repeat(grey[:, :, None], 3, axis=2)


def window(coding: Coding) -> tuple[float, float]:
    """Window centre and width written into frame images: the whole stored range."""
    return float(1 << (coding.bits_stored - 1)), float(1 << coding.bits_stored)


def expected_display(coding: Coding, samples: np.ndarray) -> np.ndarray:
    """What an IIIF frame must show: monochrome through the window (PS3.3 C.11.2.1.2), colour as tiles."""
    if coding.samples == 3 or coding.photometric == "PALETTE COLOR":
        return expected_rgb8(coding, samples)
    center, width = window(coding)
    y = ((samples.astype(np.float64) - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    grey = np.rint(np.clip(y, 0, 255)).astype(np.uint8)
    return 255 - grey if coding.photometric == "MONOCHROME1" else grey


# ---- frame encoders ----------------------------------------------------------------------------------

def _native(coding: Coding, samples: np.ndarray) -> bytes:
    if coding.photometric == "YBR_FULL_422":  # Y1 Y2 Cb Cr per pair of pixels
        quads = np.empty((samples.shape[0], samples.shape[1] // 2, 4), samples.dtype)
        quads[..., 0], quads[..., 1] = samples[:, 0::2, 0], samples[:, 1::2, 0]
        quads[..., 2], quads[..., 3] = samples[:, 0::2, 1], samples[:, 0::2, 2]
        samples = quads
    elif coding.planar:
        samples = samples.transpose(2, 0, 1)
    order = ">" if coding.syntax == BIG_ENDIAN else "<"
    return np.ascontiguousarray(samples).astype(samples.dtype.newbyteorder(order)).tobytes()


def _rle(coding: Coding, samples: np.ndarray) -> bytes:
    return get_encoder(RLELossless).encode(
        samples, rows=samples.shape[0], columns=samples.shape[1], samples_per_pixel=coding.samples,
        bits_allocated=coding.bits_allocated, bits_stored=coding.bits_stored, pixel_representation=0,
        photometric_interpretation=coding.photometric, number_of_frames=1, planar_configuration=0)


def _jpeg(coding: Coding, samples: np.ndarray) -> bytes:
    if coding.bits_stored > 8:
        return bytes(imagecodecs.jpeg8_encode(samples, level=95, bitspersample=coding.bits_stored))
    if coding.photometric == "RGB":  # Adobe APP14 transform 0 and R, G, B component ids
        return bytes(imagecodecs.jpeg8_encode(samples, level=95, colorspace="RGB", outcolorspace="RGB"))
    if coding.photometric == "YBR_FULL":  # JFIF YCbCr without chroma subsampling
        return bytes(imagecodecs.jpeg8_encode(samples, level=95, subsampling=(1, 1)))
    return bytes(imagecodecs.jpeg8_encode(samples, level=95))  # JFIF, 4:2:0 for colour


def _lossless_jpeg(coding: Coding, samples: np.ndarray) -> bytes:
    predictor = 1 if coding.syntax.endswith(".70") else 6  # .70 is selection value 1 only
    colour = {"colorspace": "RGB", "outcolorspace": "RGB"} if coding.samples == 3 else {}
    return bytes(imagecodecs.jpeg8_encode(samples, lossless=True, predictor=predictor,
                                          bitspersample=coding.bits_stored, **colour))


def _j2k(coding: Coding, samples: np.ndarray) -> bytes:
    if coding.syntax.endswith(".90"):
        return bytes(imagecodecs.jpeg2k_encode(samples, codecformat="J2K", reversible=True, mct=True))
    return bytes(imagecodecs.jpeg2k_encode(samples, level=45, codecformat="J2K", reversible=False))


def _htj2k(coding: Coding, samples: np.ndarray) -> bytes:
    if coding.syntax.endswith(".203"):
        return bytes(imagecodecs.htj2k_encode(samples, level=0.002, reversible=False))
    return bytes(imagecodecs.htj2k_encode(samples, reversible=True))


def _jpegxl(coding: Coding, samples: np.ndarray) -> bytes:
    if coding.syntax.endswith(".110"):
        return bytes(imagecodecs.jpegxl_encode(samples, lossless=True))
    if coding.syntax.endswith(".111"):
        return bytes(imagecodecs.jpegxl_encode_jpeg(imagecodecs.jpeg8_encode(samples, level=95)))
    return bytes(imagecodecs.jpegxl_encode(samples, distance=1.0))


def encode_frame(coding: Coding, samples: np.ndarray) -> bytes:
    suffix = coding.syntax.removeprefix(f"{_TS}.")
    if coding.syntax in (*NATIVE_LE, BIG_ENDIAN):
        return _native(coding, samples)
    if suffix == "5":
        return _rle(coding, samples)
    if suffix in ("4.50", "4.51"):
        return _jpeg(coding, samples)
    if suffix in ("4.57", "4.70"):
        return _lossless_jpeg(coding, samples)
    if suffix in ("4.80", "4.81"):
        return bytes(imagecodecs.jpegls_encode(samples, level=2 if suffix == "4.81" else 0))
    if suffix in ("4.90", "4.91"):
        return _j2k(coding, samples)
    if suffix in ("4.201", "4.202", "4.203"):
        return _htj2k(coding, samples)
    if suffix in ("4.110", "4.111", "4.112"):
        return _jpegxl(coding, samples)
    raise ValueError(f"no test encoder for {coding.syntax}")


def label(coding: Coding) -> str:
    """Photometric interpretation written: lossless J2K/HTJ2K colour with MCT is YBR_RCT, lossy YBR_ICT."""
    if coding.samples == 3 and coding.syntax.removeprefix(f"{_TS}.4.") in ("90", "201", "202"):
        return "YBR_RCT"
    if coding.samples == 3 and coding.syntax.removeprefix(f"{_TS}.4.") in ("91", "203"):
        return "YBR_ICT"
    return coding.photometric


# ---- DICOM objects -----------------------------------------------------------------------------------

def set_pixel_module(ds: Dataset, coding: Coding, rows: int, columns: int) -> None:
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation = coding.samples, label(coding)
    ds.BitsAllocated, ds.BitsStored = coding.bits_allocated, coding.bits_stored
    ds.HighBit, ds.PixelRepresentation = coding.bits_stored - 1, 0
    if coding.samples == 3:
        ds.PlanarConfiguration = coding.planar
    elif "PlanarConfiguration" in ds:
        del ds.PlanarConfiguration
    if coding.photometric == "PALETTE COLOR":
        for colour, lut in zip(("Red", "Green", "Blue"), PALETTE, strict=True):
            setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
            setattr(ds, f"{colour}PaletteColorLookupTableData", lut.astype("<u2").tobytes())


def save(ds: Dataset, coding: Coding, frames: list[bytes], path: Path) -> Path:
    ds.NumberOfFrames = len(frames)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = UID(coding.syntax)
    native = coding.syntax in (*NATIVE_LE, BIG_ENDIAN)
    ds.PixelData = b"".join(frames) if native else encapsulate_frames(frames)
    ds["PixelData"].VR = "OW" if native and coding.bits_allocated == 16 else "OB"
    ds["PixelData"].is_undefined_length = not native
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def encapsulate_frames(frames: list[bytes]) -> bytes:
    """One fragment per frame after an empty offset table (PS3.5 A.4), empty frames allowed
    (pydicom's encapsulate refuses them)."""
    items = [b"\xfe\xff\x00\xe0" + struct.pack("<I", 0)]
    for frame in frames:
        frame += b"\0" * (len(frame) % 2)  # items have an even length
        items.append(b"\xfe\xff\x00\xe0" + struct.pack("<I", len(frame)) + frame)
    return b"".join(items)  # pydicom writes the sequence delimiter (undefined length)


def tiles_of(picture: np.ndarray) -> list[np.ndarray]:
    """TILED_FULL order; the picture's sides are multiples of TILE."""
    return [np.ascontiguousarray(picture[y:y + TILE, x:x + TILE]) for y in range(0, picture.shape[0], TILE)
            for x in range(0, picture.shape[1], TILE)]


def write_wsi(out_dir: Path, coding: Coding, picture: np.ndarray, frames: list[bytes] | None = None) -> list[Path]:
    """Two levels (the picture and every second pixel of it) of 256 px tiles.

    frames: level-0 frame bytes to store instead of the encoded tiles (corrupt data tests).
    """
    uids = {"study": generate_uid(), "series": generate_uid(), "frame": generate_uid()}
    paths = []
    for level, view in enumerate((picture, picture[::2, ::2])):
        height, width = view.shape[:2]
        spacing = 0.00025 * (1 << level)
        ds = writer._base(uids, "VOLUME" if level == 0 else "VOLUME-DERIVED", width, height, (TILE, TILE),
                          spacing, {"series": coding.name})
        set_pixel_module(ds, coding, TILE, TILE)
        ds.DimensionOrganizationType, ds.TotalPixelMatrixFocalPlanes = "TILED_FULL", 1
        ds.InstanceNumber, ds.SOPInstanceUID = level + 1, generate_uid()
        writer._optical_paths(ds, ["1"], None)
        writer._shared_groups(ds, spacing, 0.001)
        level_frames = [encode_frame(coding, stored_samples(coding, t)) for t in tiles_of(view)]
        if level == 0 and frames is not None:
            level_frames = frames
        paths.append(save(ds, coding, level_frames, Path(out_dir) / f"level{level}.dcm"))
    return paths


def write_frame_image(path: Path, coding: Coding, picture: np.ndarray) -> Path:
    """A non-WSI Secondary Capture image of one frame, windowed over its whole range when monochrome."""
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = SECONDARY_CAPTURE, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = generate_uid(), generate_uid(), 1
    ds.PatientID, ds.PatientName, ds.StudyDate, ds.Modality = "CODEC-TEST", "Codec^Test", "20260101", "OT"
    ds.SeriesDescription, ds.ConversionType = coding.name, "WSD"
    picture = np.ascontiguousarray(picture)
    set_pixel_module(ds, coding, picture.shape[0], picture.shape[1])
    if coding.samples == 1 and coding.photometric != "PALETTE COLOR":
        ds.WindowCenter, ds.WindowWidth = window(coding)
    return save(ds, coding, [encode_frame(coding, stored_samples(coding, picture))], path)
