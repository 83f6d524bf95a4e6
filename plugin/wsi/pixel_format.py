"""What the tags say about a frame's pixels (pure): `PixelFormat`, read once per instance with its palette."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .dicom_tags import COLUMNS, PHOTOMETRIC_INTERPRETATION, ROWS, TagReader
from .errors import DecodeError, UnsupportedTransferSyntax

# Orthanc's /tags leaves binary tags null; fetch these with /instances/{id}/content/{tag} for PALETTE COLOR.
PALETTE_DATA_TAGS = ("0028-1201", "0028-1202", "0028-1203")
_PALETTE_DESCRIPTORS = ("0028,1101", "0028,1102", "0028,1103")

Palette = tuple[np.ndarray, np.ndarray, np.ndarray]


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
    palette: Palette | None = field(default=None, compare=False)
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
        photometric = (get.text(PHOTOMETRIC_INTERPRETATION) or "MONOCHROME2").upper()
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
            rows=get.integer(ROWS, 0),
            columns=get.integer(COLUMNS, 0),
            palette=palette,
            palette_first=first,
            palette_bits=bits,
        )

    @property
    def needs_palette_data(self) -> bool:
        return self.photometric == "PALETTE COLOR" and self.palette is None


def sample_dtype(fmt: PixelFormat, byteorder: str = "<") -> np.dtype:
    """numpy dtype of one stored sample."""
    if fmt.bits_allocated not in (8, 16, 32):
        raise UnsupportedTransferSyntax(f"{fmt.bits_allocated} bits allocated")
    kind = "i" if fmt.pixel_representation else "u"
    return np.dtype(f"{byteorder}{kind}{fmt.bits_allocated // 8}")


def _read_palette(get: TagReader, palette_data: tuple[bytes, bytes, bytes] | None) -> tuple[Palette | None, int, int]:
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
