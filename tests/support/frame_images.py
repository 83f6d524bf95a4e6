"""Large synthetic radiographs and a photograph for the frame-pyramid tests, with what each tile must show.

The expected pixels are computed here independently of the plugin: modality values in float64, levels by
NaN-padded 2 x 2 means (a partial box at an odd edge averages what it has), then the DICOM VOI formulas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydicom.uid import generate_uid

from tests.support.radiology import radiograph

TILE = 512


def _texture(height: int, width: int, seed: int, top: int) -> np.ndarray:
    """Smooth anatomy-like ramps and blobs plus noise, spanning 0..top (so that averaging matters)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = 0.45 * x / width + 0.35 * y / height + 0.15 * np.sin(x / 37.0) * np.cos(y / 53.0)
    base += 0.05 * rng.random((height, width))
    base = (base - base.min()) / (base.max() - base.min())
    return np.rint(base * top).astype(np.uint16)


@dataclass
class Sample:
    """One test instance: its DICOM bytes and, per frame, what the frame shows (a function of modality values)."""

    name: str
    data: bytes
    stored: list[np.ndarray]  # per frame: stored values (grey) or RGB
    slope: float = 1.0
    intercept: float = 0.0
    window: tuple[float, float] | None = None  # the file's first window
    voi_lut: tuple[int, int, np.ndarray] | None = None
    inverted: bool = False
    modality: str = "DX"
    instance_id: str = ""
    series_id: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def grey(self) -> bool:
        return self.stored[0].ndim == 2

    def modality_values(self, frame: int = 0) -> np.ndarray:
        values = self.stored[frame].astype(np.float64)
        return values if not self.grey else values * self.slope + self.intercept

    def level(self, z: int, frame: int = 0) -> np.ndarray:
        """Grey: modality values averaged in full precision; colour: 8-bit levels, each rounded (half up)."""
        values = self.modality_values(frame)
        for _ in range(z):
            values = box_average(values) if self.grey else np.floor(box_average(values) + 0.5)
        return values

    def default_window(self, frame: int = 0) -> tuple[float, float]:
        if self.window is not None:
            return self.window
        values = self.modality_values(frame)
        lo, hi = float(values.min()), float(values.max())
        return (lo + hi) / 2, hi - lo

    def shown(self, z: int, frame: int = 0, window: tuple[float, float] | None = None) -> np.ndarray:
        """Level z as it must be displayed: default VOI (window, else VOI LUT, else range) or `window`."""
        values = self.level(z, frame)
        if not self.grey:
            return values
        if window is not None:
            out = linear_window(values, *window)
        elif self.window is not None:
            out = linear_window(values, *self.window)
        elif self.voi_lut is not None:
            first, bits, table = self.voi_lut
            index = np.clip(np.rint(values).astype(np.int64) - first, 0, len(table) - 1)
            out = table[index] * 255.0 / ((1 << bits) - 1)
        else:
            lo, hi = float(values.min()), float(values.max())
            out = (values - lo) * 255.0 / (hi - lo)
        out = np.clip(out, 0, 255)
        return 255 - out if self.inverted else out

    def tile(self, z: int, x: int, y: int, frame: int = 0, window: tuple[float, float] | None = None) -> np.ndarray:
        """The expected 512 x 512 tile, background past the frame's edge (black grey, white colour)."""
        shown = self.shown(z, frame, window)[y * TILE:(y + 1) * TILE, x * TILE:(x + 1) * TILE]
        out = np.full((TILE, TILE, *shown.shape[2:]), 0.0 if self.grey else 255.0)
        out[:shown.shape[0], :shown.shape[1]] = shown
        return out


def box_average(values: np.ndarray) -> np.ndarray:
    h, w = values.shape[:2]
    padded = np.full((h + h % 2, w + w % 2, *values.shape[2:]), np.nan)
    padded[:h, :w] = values
    return np.nanmean(np.stack([padded[0::2, 0::2], padded[1::2, 0::2], padded[0::2, 1::2], padded[1::2, 1::2]]),
                      axis=0)


def linear_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2 LINEAR onto 0..255."""
    return ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0


def samples(mammogram: tuple[int, int] = (2000, 2500), photo: tuple[int, int] = (3000, 2000)) -> dict[str, Sample]:
    """The standard set (sizes as width x height): a 16-bit mammogram with rescale and a VOI LUT, a 12-bit
    MONOCHROME1 radiograph with two windows, a three-frame CT, one more CT instance of that series, and an RGB
    photograph. Each in its own series except the two CT instances."""
    study = generate_uid()
    out: dict[str, Sample] = {}
    w, h = mammogram
    stored = _texture(h, w, 1, 65535)
    table = np.rint(np.sqrt(np.arange(16384) / 16383.0) * 65535).astype(np.uint16)
    lut = (0, 16, table)
    out["mammogram"] = Sample("mammogram", radiograph(stored, series=generate_uid(), study=study, modality="MG",
                                                      slope=0.25, voi_lut=lut), [stored], slope=0.25, voi_lut=lut,
                              modality="MG")
    stored = _texture(1700, 1300, 2, 4095)
    windows = ((2048.0, 4096.0, "DEFAULT"), (1500.0, 1000.0, "SOFT"))
    out["monochrome1"] = Sample("monochrome1", radiograph(stored, series=generate_uid(), study=study,
                                                          photometric="MONOCHROME1", bits_stored=12,
                                                          windows=windows),
                                [stored], window=(2048.0, 4096.0), inverted=True, extra={"windows": windows})
    frames = np.stack([_texture(700, 600, 10 + i, 3000) for i in range(3)])
    ct_series = generate_uid()
    windows = ((40.0, 400.0, "SOFT TISSUE"),)
    out["ct"] = Sample("ct", radiograph(frames, series=ct_series, study=study, number=1, modality="CT",
                                        intercept=-1024.0, windows=windows),
                       list(frames), intercept=-1024.0, window=(40.0, 400.0), modality="CT",
                       extra={"windows": windows})
    single = _texture(700, 600, 20, 3000)
    out["ct-single"] = Sample("ct-single", radiograph(single, series=ct_series, study=study, number=2,
                                                      modality="CT", intercept=-1024.0, windows=windows),
                              [single], intercept=-1024.0, window=(40.0, 400.0), modality="CT")
    w, h = photo
    rgb = np.stack([_texture(h, w, 30 + c, 255) for c in range(3)], axis=-1).astype(np.uint8)
    out["photo"] = Sample("photo", radiograph(rgb, series=generate_uid(), study=study, modality="XC"), [rgb],
                          modality="XC")
    return out
