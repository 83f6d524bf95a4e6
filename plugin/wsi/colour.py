"""Colour spaces (pure): DICOM CIELab to sRGB, YBR_FULL to RGB, whether an ICC profile is just sRGB."""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image, ImageCms

YBR_LABELS = ("YBR_FULL", "YBR_FULL_422")


def decode_dicom_lab(values: list[float]) -> tuple[float, float, float]:
    """DICOM stores L in 0..65535 for 0..100 and a, b in 0..65535 for -128..127 (PS3.3 C.10.7.1.1)."""
    return values[0] * 100.0 / 65535.0, values[1] * 255.0 / 65535.0 - 128.0, values[2] * 255.0 / 65535.0 - 128.0


@functools.cache
def _lab_to_srgb() -> ImageCms.ImageCmsTransform:
    # D50 Lab, as DICOM's CIELab refers to the ICC profile connection space. NOOPTIMIZE: lcms's optimised
    # 8-bit Lab tables turn white into (254, 255, 254) and black into (1, 0, 1) (measured, docs/codec.md).
    return ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB",
                                   flags=ImageCms.Flags.NOOPTIMIZE)


def lab_to_rgb8(dicom_lab: list[float]) -> tuple[int, int, int]:
    """sRGB of a DICOM-encoded CIELab value (the slide's background), by littleCMS (Pillow's 8-bit Lab)."""
    lightness, a, b = decode_dicom_lab(dicom_lab)
    lab = (round(lightness * 2.55), round(a) + 128, round(b) + 128)
    pixel = Image.new("LAB", (1, 1), tuple(min(255, max(0, v)) for v in lab))
    r, g, b_ = ImageCms.applyTransform(pixel, _lab_to_srgb()).getpixel((0, 0))
    return r, g, b_


def label_to_rgb(arr: np.ndarray, photometric: str, bits: int) -> np.ndarray:
    """For codecs without a colour transform of their own: YBR_FULL(_422) labels mean YCbCr samples."""
    if arr.ndim == 3 and photometric in YBR_LABELS:
        return ybr_full_to_rgb(arr, bits)
    return arr


def ybr_full_to_rgb(arr: np.ndarray, bits: int = 8) -> np.ndarray:
    """YBR_FULL -> RGB, ITU-R BT.601 full range (PS3.3 C.7.6.3.1.2), same dtype, rounded and clipped.

    Ours, not pydicom.pixels.convert_color_space: that takes 8 bits only (we need 16) and is no faster.
    """
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


def is_srgb_profile(icc: bytes) -> bool:
    """An RGB profile that names itself sRGB: embedding it changes nothing, as untagged images are sRGB.

    Scanners and converters (OrthancWSIDicomizer among them) write one into every slide; leaving it out
    keeps passed-through JPEG tiles byte for byte as stored and 7 kB smaller.
    """
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile
    except (OSError, ValueError, TypeError):
        return False  # unreadable: embed as stored, a viewer may know better
    description = f"{profile.profile_description or ''} {profile.model or ''}"
    return profile.xcolor_space.strip() == "RGB" and "srgb" in description.lower()
