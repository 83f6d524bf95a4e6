"""Colour the model needs (pure): DICOM-encoded CIELab to sRGB; whether an ICC profile is just sRGB."""

from __future__ import annotations

import io

from PIL import ImageCms

# D50 white, as DICOM's CIELab values refer to the ICC profile connection space (PS3.3 C.10.7.1.1).
_D50 = (0.9642, 1.0, 0.8249)
# Bradford-adapted D50 XYZ -> linear sRGB.
_XYZ_TO_SRGB = (
    (3.1338561, -1.6168667, -0.4906146),
    (-0.9787684, 1.9161415, 0.0334540),
    (0.0719453, -0.2289914, 1.4052427),
)


def decode_dicom_lab(values: list[float]) -> tuple[float, float, float]:
    """DICOM stores L in 0..65535 for 0..100 and a, b in 0..65535 for -128..127."""
    return values[0] * 100.0 / 65535.0, values[1] * 255.0 / 65535.0 - 128.0, values[2] * 255.0 / 65535.0 - 128.0


def _lab_to_xyz(lightness: float, a: float, b: float) -> tuple[float, float, float]:
    fy = (lightness + 16.0) / 116.0
    fx, fz = fy + a / 500.0, fy - b / 200.0

    def inverse(t: float) -> float:
        return t**3 if t > 6.0 / 29.0 else 3 * (6.0 / 29.0) ** 2 * (t - 4.0 / 29.0)

    return _D50[0] * inverse(fx), _D50[1] * inverse(fy), _D50[2] * inverse(fz)


def _gamma(linear: float) -> float:
    linear = min(max(linear, 0.0), 1.0)
    return 12.92 * linear if linear <= 0.0031308 else 1.055 * linear ** (1 / 2.4) - 0.055


def lab_to_rgb8(dicom_lab: list[float]) -> tuple[int, int, int]:
    x, y, z = _lab_to_xyz(*decode_dicom_lab(dicom_lab))
    rgb = [_gamma(row[0] * x + row[1] * y + row[2] * z) for row in _XYZ_TO_SRGB]
    return round(rgb[0] * 255), round(rgb[1] * 255), round(rgb[2] * 255)


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
