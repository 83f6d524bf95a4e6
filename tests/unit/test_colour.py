from PIL import ImageCms
from wsi.colour import is_srgb_profile, lab_to_rgb8


def srgb_bytes() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def renamed_srgb() -> bytes:
    """An RGB profile that does not call itself sRGB (a display or scanner profile would not)."""
    data = srgb_bytes()
    for old in (b"sRGB", "sRGB".encode("utf-16-be")):
        data = data.replace(old, old.replace(b"s", b"x"))
    return data


def test_lab_to_rgb8():
    assert lab_to_rgb8([65535, 32896, 32896]) == (255, 255, 255)
    assert lab_to_rgb8([0, 32896, 32896]) == (0, 0, 0)
    red = lab_to_rgb8([0xFFFF * 0.532, 0xFFFF * (128 + 80.1) / 255, 0xFFFF * (128 + 67.2) / 255])
    assert red[0] > 240 and red[1] < 20 and red[2] < 20


def test_srgb_profiles_are_recognised():
    assert is_srgb_profile(srgb_bytes())
    assert not is_srgb_profile(renamed_srgb())
    assert not is_srgb_profile(ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes())
    assert not is_srgb_profile(b"not a profile")
