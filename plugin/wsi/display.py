"""Radiology display rules for IIIF: modality LUT, VOI (window or LUT), MONOCHROME1, 8 bits (pure).

Order (PS3.3 C.11): stored values -> Modality LUT (Rescale Slope/Intercept or Modality LUT Sequence)
-> VOI (Window Center/Width, first pair; else VOI LUT Sequence; else the frame's min..max) -> 0..255
-> inverted for MONOCHROME1 or Presentation LUT Shape INVERSE. Enhanced multi-frame objects carry the same
attributes in functional groups, looked up per frame first, then shared, then at the top level. `GreyDisplay`
holds the VOI and inversion of one frame, so that tiles of its modality values can be shown later with that
default or with a chosen window.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .dicom_tags import TagReader
from .pixel_format import PixelFormat
from .rgb8 import to_rgb8

log = logging.getLogger(__name__)

PER_FRAME_GROUPS = "5200,9230"
SHARED_GROUPS = "5200,9229"
# Orthanc's tags?short leaves long values null; ask with `ignore-length=0028-3006` to get LUT data.
LUT_DATA_TAG = "0028,3006"


def render_for_display(
    pixels: np.ndarray, fmt: PixelFormat, tags: Mapping[str, Any], frame_index: int = 0
) -> np.ndarray:
    """uint8 HxW for monochrome frames, HxWx3 for colour ones (palette applied)."""
    if not is_grey(pixels, fmt):
        return to_rgb8(pixels, fmt)
    attrs = _Attributes(tags, frame_index)
    values = apply_modality(pixels, attrs)
    return grey_display(values, fmt, tags, frame_index).apply(values)


def is_grey(pixels: np.ndarray, fmt: PixelFormat) -> bool:
    return fmt.photometric in ("MONOCHROME1", "MONOCHROME2") and pixels.ndim == 2


def modality_values(pixels: np.ndarray, tags: Mapping[str, Any], frame_index: int = 0) -> np.ndarray:
    """A grey frame's stored values -> modality values (float32, full precision)."""
    return apply_modality(pixels, _Attributes(tags, frame_index))


@dataclass(frozen=True)
class Window:
    """A VOI window in modality units (PS3.3 C.11.2.1.2)."""

    center: float
    width: float
    function: str = "LINEAR"


@dataclass(frozen=True)
class Preset:
    name: str
    center: float
    width: float


# Offered for CT frames next to the file's own windows (Hounsfield units; the usual radiology settings).
CT_PRESETS = (
    Preset("Soft tissue", 40.0, 400.0), Preset("Lung", -600.0, 1500.0), Preset("Bone", 400.0, 1800.0),
    Preset("Brain", 40.0, 80.0), Preset("Liver", 60.0, 160.0), Preset("Mediastinum", 50.0, 350.0),
)


@dataclass(frozen=True)
class GreyDisplay:
    """How a grey frame's modality values become 8 bits: its default VOI, its inversion, what to offer.

    The default is the file's first usable window, else its VOI LUT, else the frame's own range (`window`
    then holds that range, so a viewer always has a window to start dragging from).
    """

    window: Window
    voi_lut: tuple[np.ndarray, int, int] | None  # used instead of `window` when the file has no usable window
    inverted: bool  # MONOCHROME1 or Presentation LUT Shape INVERSE
    presets: tuple[Preset, ...] = ()

    def apply(self, values: np.ndarray, chosen: Window | None = None) -> np.ndarray:
        """Modality values -> uint8, with `chosen` (in modality units) instead of the default VOI."""
        if chosen is None and self.voi_lut is not None:
            out = _apply_lut(values, self.voi_lut)
        else:
            voi = chosen or self.window
            out = window(values, voi.center, voi.width, voi.function)
            if out is None:  # a width the function cannot take (e.g. LINEAR below 1): the exact form can
                out = window(values, voi.center, max(voi.width, 1e-6), "LINEAR_EXACT")
            assert out is not None
        return 255 - out if self.inverted else out


def grey_display(values: np.ndarray, fmt: PixelFormat, tags: Mapping[str, Any], frame_index: int = 0) -> GreyDisplay:
    """The display rules of a grey frame whose modality values are `values` (the whole frame)."""
    attrs = _Attributes(tags, frame_index)
    inverted = fmt.photometric == "MONOCHROME1" or attrs.text("2050,0020").upper() == "INVERSE"
    function = (attrs.text("0028,1056") or "LINEAR").upper()
    files = _file_windows(attrs, function)
    presets = tuple(Preset(name, w.center, w.width) for name, w in files)
    if TagReader(tags).text("0008,0060").upper() == "CT":
        presets += CT_PRESETS
    usable = [w for _, w in files if window(np.zeros(1, np.float32), w.center, w.width, w.function) is not None]
    if files and not usable:
        log.info("unusable window %s/%s (%s), trying the next VOI rule", files[0][1].center, files[0][1].width,
                 function)
    if usable:
        return GreyDisplay(usable[0], None, inverted, presets)
    voi_items = attrs.sequence("0028,3010")
    lut = _read_lut(voi_items[0]) if voi_items else None
    return GreyDisplay(range_window(values), lut, inverted, presets)


def _file_windows(attrs: _Attributes, function: str) -> list[tuple[str, Window]]:
    """The file's windows (Window Center/Width pairs) with their explanations, or "Window n"."""
    centers, widths = attrs.numbers("0028,1050"), attrs.numbers("0028,1051")
    explanations = [e.strip() for e in attrs.text("0028,1055").split("\\")]
    found = []
    for i, (center, width) in enumerate(zip(centers, widths, strict=False)):
        name = explanations[i] if i < len(explanations) and explanations[i] else f"Window {i + 1}"
        found.append((name, Window(float(center), float(width), function)))
    return found


def range_window(values: np.ndarray) -> Window:
    """The window that maps the frame's own min..max onto 0..255 (LINEAR_EXACT: no half-pixel shift)."""
    if not values.size:
        return Window(0.0, 1.0, "LINEAR_EXACT")
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:  # a flat frame: its one value at the bottom, as the stretch it replaces did
        return Window(lo + 0.5, 1.0, "LINEAR_EXACT")
    return Window((lo + hi) / 2.0, hi - lo, "LINEAR_EXACT")


class _Attributes:
    """Attribute lookup: per-frame functional group, then shared group, then the top level."""

    def __init__(self, tags: Mapping[str, Any], frame_index: int) -> None:
        top = TagReader(tags)
        scopes: list[TagReader] = []
        per_frame = top.sequence(PER_FRAME_GROUPS)
        groups = per_frame[frame_index : frame_index + 1] + top.sequence(SHARED_GROUPS)[:1]
        for group in groups:
            reader = TagReader(group)
            for tag in group:  # each functional group macro is a one-item sequence
                scopes.extend(reader.items(tag)[:1])
        self._scopes = [*scopes, top]

    def _first(self, tag: str) -> TagReader | None:
        return next((scope for scope in self._scopes if scope.has(tag)), None)

    def numbers(self, tag: str) -> list[float]:
        scope = self._first(tag)
        return scope.numbers(tag) if scope else []

    def text(self, tag: str) -> str:
        scope = self._first(tag)
        return scope.text(tag) if scope else ""

    def sequence(self, tag: str) -> list[dict[str, Any]]:
        return next((s.sequence(tag) for s in self._scopes if s.sequence(tag)), [])


def apply_modality(pixels: np.ndarray, attrs: _Attributes) -> np.ndarray:
    """Stored values -> modality values (float32): Modality LUT Sequence, else slope/intercept."""
    lut_items = attrs.sequence("0028,3000")
    if lut_items:
        lut = _read_lut(lut_items[0])
        if lut is not None:
            table, first, _bits = lut
            return table[np.clip(pixels.astype(np.int64) - first, 0, len(table) - 1)].astype(np.float32)
    slope = (attrs.numbers("0028,1053") or [1.0])[0]
    intercept = (attrs.numbers("0028,1052") or [0.0])[0]
    values = pixels.astype(np.float32)
    if slope != 1.0:
        values *= np.float32(slope)
    if intercept:
        values += np.float32(intercept)
    return values


def _apply_lut(values: np.ndarray, lut: tuple[np.ndarray, int, int]) -> np.ndarray:
    """A VOI LUT (PS3.3 C.11.2.1.1): values outside its range take its first or last entry; output scaled by
    its bit depth (or its largest entry, when the descriptor understates it)."""
    table, first, bits = lut
    top = max(float((1 << bits) - 1), float(table.max(initial=0)))
    index = np.clip(np.rint(values).astype(np.int64) - first, 0, len(table) - 1)
    return np.rint(table[index] * (255.0 / top)).astype(np.uint8)


def window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray | None:
    """PS3.3 C.11.2.1.2 (LINEAR), C.11.2.1.3.1 (SIGMOID), C.11.2.1.3.2 (LINEAR_EXACT) onto 0..255.

    None when the width is not valid for the function.
    """
    x = values.astype(np.float32, copy=False)
    if function == "SIGMOID":
        if width <= 0:
            return None
        with np.errstate(over="ignore"):  # exp overflows to inf far below the centre: y -> 0, as it should
            y = 255.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    elif function == "LINEAR_EXACT":
        if width <= 0:
            return None
        y = ((x - center) / width + 0.5) * 255.0
    else:  # LINEAR, the default
        if width < 1:
            return None
        if width == 1:  # the formula degenerates to a threshold at c - 0.5
            return np.where(x <= center - 0.5, 0, 255).astype(np.uint8)
        y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.rint(np.clip(y, 0.0, 255.0)).astype(np.uint8)


def _read_lut(item: Mapping[str, Any]) -> tuple[np.ndarray, int, int] | None:
    """(table float32, first mapped value, bits) from a LUT item, or None when its data is missing."""
    get = TagReader(item)
    descriptor = get.numbers("0028,3002")
    if len(descriptor) != 3:
        return None
    entries = int(descriptor[0]) or 65536
    first, bits = int(descriptor[1]), int(descriptor[2])
    raw = get.raw(LUT_DATA_TAG)
    if isinstance(raw, bytes | bytearray):
        table = np.frombuffer(bytes(raw), "<u2" if bits > 8 or len(raw) >= 2 * entries else "u1")
    elif raw is not None:
        table = np.array(get.numbers(LUT_DATA_TAG), np.float64)
    else:
        log.info("LUT data is missing (Orthanc needs ignore-length=0028-3006); LUT ignored")
        return None
    if len(table) < entries:
        log.info("LUT has %d entries, descriptor says %d; LUT ignored", len(table), entries)
        return None
    return table[:entries].astype(np.float32), first, bits
