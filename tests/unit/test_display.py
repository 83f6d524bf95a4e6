"""wsi.display: radiology frames to 8 bits, cross-checked against pydicom's reference helpers."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut, apply_windowing
from wsi import codec
from wsi.codec import PixelFormat
from wsi.display import render_for_display, window

ROWS, COLS = 32, 40


def ct_frame(seed: int = 0) -> np.ndarray:
    """Signed 16-bit stored values spanning air to bone once rescaled by -1024."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:ROWS, 0:COLS]
    return (x * 60 + y * 20 + rng.integers(-30, 30, (ROWS, COLS))).astype(np.int16)


def mono_fmt(photometric: str = "MONOCHROME2", bits: int = 16, stored: int = 16, signed: int = 1) -> PixelFormat:
    return PixelFormat(codec.EXPLICIT_LE, photometric, 1, bits, stored, signed, 0, ROWS, COLS)


def reference(pixels: np.ndarray, **attrs) -> np.ndarray:
    """pydicom's modality LUT + windowing, rescaled from its output range to 0..255."""
    ds = Dataset()
    ds.PhotometricInterpretation, ds.BitsStored, ds.PixelRepresentation = "MONOCHROME2", 16, 1
    for key, value in attrs.items():
        setattr(ds, key, value)
    values = apply_windowing(apply_modality_lut(pixels, ds), ds)
    y_min, y_max = -(2**15), 2**15 - 1
    if "RescaleSlope" in ds:
        y_min, y_max = y_min * ds.RescaleSlope + ds.RescaleIntercept, y_max * ds.RescaleSlope + ds.RescaleIntercept
    return (values - y_min) * 255.0 / (y_max - y_min)


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")  # pydicom's SIGMOID
@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize(("center", "width"), [(40.0, 400.0), (300.0, 1500.0), (-600.0, 1.0), (0.0, 2.0)])
def test_window_matches_pydicom(function, center, width):
    if function != "LINEAR" and width == 1.0:
        width = 0.5  # exercise the other functions' own width rule
    pixels = ct_frame()
    tags = {"0028,1052": "-1024", "0028,1053": "1", "0028,1050": str(center), "0028,1051": str(width),
            "0028,1056": function}
    out = render_for_display(pixels, mono_fmt(), tags)
    expected = reference(pixels, RescaleSlope=1, RescaleIntercept=-1024, WindowCenter=center,
                         WindowWidth=width, VOILUTFunction=function)
    assert out.dtype == np.uint8 and out.shape == pixels.shape
    assert np.abs(out.astype(float) - expected).max() <= 1.0
    assert len(np.unique(out)) > 1


def test_first_window_of_several_and_rescale_slope():
    pixels = ct_frame()
    tags = {"0028,1052": "-1000", "0028,1053": "0.5", "0028,1050": "100\\-500", "0028,1051": "200\\1000"}
    out = render_for_display(pixels, mono_fmt(), tags)
    hu = pixels * 0.5 - 1000
    expected = np.clip(((hu - 99.5) / 199 + 0.5) * 255, 0, 255)
    assert np.abs(out - expected).max() <= 1.0


def test_voi_lut_sequence_when_no_window():
    pixels = (np.arange(ROWS * COLS) % 4096).reshape(ROWS, COLS).astype(np.uint16)
    lut = [min(4095, v * 2) for v in range(2048)]  # 2048 entries, 12 bits, first mapped value 0
    # as Orthanc returns it with ignore-length=0028-3006: a backslash-separated string
    tags = {"0028,3010": [{"0028,3002": "2048\\0\\12", "0028,3006": "\\".join(map(str, lut))}]}
    out = render_for_display(pixels, mono_fmt(bits=16, stored=12, signed=0), tags)
    ds = Dataset()
    ds.PhotometricInterpretation, ds.BitsStored, ds.PixelRepresentation = "MONOCHROME2", 12, 0
    item = Dataset()
    item.LUTDescriptor = [2048, 0, 12]
    item.add_new(0x00283006, "US", lut)
    ds.VOILUTSequence = [item]
    expected = apply_voi_lut(pixels, ds) * 255.0 / 4095
    assert np.abs(out - expected).max() <= 0.5


def test_voi_lut_as_raw_bytes_and_missing_data_falls_back_to_min_max():
    pixels = np.array([[0, 1, 2, 3]], np.uint16)
    lut = np.array([0, 100, 200, 255], "<u2").tobytes()
    fmt = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME2", 1, 16, 8, 0, 0, 1, 4)
    tags = {"0028,3010": [{"0028,3002": "4\\0\\8", "0028,3006": lut}]}
    assert render_for_display(pixels, fmt, tags).tolist() == [[0, 100, 200, 255]]
    tags = {"0028,3010": [{"0028,3002": "4\\0\\8", "0028,3006": None}]}  # Orthanc without ignore-length
    assert render_for_display(pixels, fmt, tags).tolist() == [[0, 85, 170, 255]]


def test_min_max_when_nothing_is_given():
    pixels = np.array([[100, 150, 300]], np.int16)
    fmt = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME2", 1, 16, 16, 1, 0, 1, 3)
    assert render_for_display(pixels, fmt, {}).tolist() == [[0, 64, 255]]
    assert render_for_display(np.full((1, 3), 7, np.int16), fmt, {}).tolist() == [[0, 0, 0]]


def test_monochrome1_and_inverse_presentation_shape_are_inverted():
    pixels = np.array([[0, 1000, 4095]], np.uint16)
    fmt1 = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME1", 1, 16, 12, 0, 0, 1, 3)
    tags = {"0028,1050": "2048", "0028,1051": "4096"}
    assert render_for_display(pixels, fmt1, tags).tolist() == [[255, 193, 0]]
    fmt2 = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME2", 1, 16, 12, 0, 0, 1, 3)
    assert render_for_display(pixels, fmt2, {**tags, "2050,0020": "INVERSE"}).tolist() == [[255, 193, 0]]
    assert render_for_display(pixels, fmt2, tags).tolist() == [[0, 62, 255]]


def test_invalid_width_falls_through_to_min_max():
    pixels = np.array([[10, 20, 30]], np.uint16)
    fmt = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME2", 1, 16, 16, 0, 0, 1, 3)
    assert render_for_display(pixels, fmt, {"0028,1050": "20", "0028,1051": "0"}).tolist() == [[0, 128, 255]]
    assert window(pixels, 20, 0.5) is None


def test_enhanced_functional_groups_per_frame_then_shared():
    """Layout of Orthanc tags?short for an enhanced CT (checked against Orthanc 1.10.1)."""
    pixels = ct_frame()
    tags = {
        "5200,9229": [{"0028,9145": [{"0028,1052": "-1024.0", "0028,1053": "1.0", "0028,1054": "HU"}],
                       "0028,9132": [{"0028,1050": "0", "0028,1051": "10"}]}],
        "5200,9230": [{"0028,9132": [{"0028,1050": "50.0", "0028,1051": "350.0"}]},
                      {"0020,9111": [{"0020,9157": "1\\2"}]}],
    }
    fmt = mono_fmt()
    first = render_for_display(pixels, fmt, tags, frame_index=0)
    second = render_for_display(pixels, fmt, tags, frame_index=1)
    expected_first = reference(pixels, RescaleSlope=1, RescaleIntercept=-1024, WindowCenter=50, WindowWidth=350)
    expected_second = reference(pixels, RescaleSlope=1, RescaleIntercept=-1024, WindowCenter=0, WindowWidth=10)
    assert np.abs(first - expected_first).max() <= 1.0
    assert np.abs(second - expected_second).max() <= 1.0


def test_modality_lut_sequence():
    pixels = np.array([[0, 1, 2, 3]], np.uint16)
    fmt = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME2", 1, 16, 8, 0, 0, 1, 4)
    tags = {"0028,3000": [{"0028,3002": "4\\0\\16", "0028,3006": "0\\1000\\3000\\4000"}],
            "0028,1050": "2000", "0028,1051": "4001"}
    expected = np.clip(((np.array([0, 1000, 3000, 4000]) - 1999.5) / 4000 + 0.5) * 255, 0, 255)
    assert np.abs(render_for_display(pixels, fmt, tags)[0] - expected).max() <= 0.5


def test_colour_frames_go_to_rgb8():
    rgb16 = (np.arange(ROWS * COLS * 3).reshape(ROWS, COLS, 3) * 20).astype(np.uint16)
    fmt = PixelFormat(codec.EXPLICIT_LE, "RGB", 3, 16, 16, 0, 0, ROWS, COLS)
    out = render_for_display(rgb16, fmt, {"0028,1050": "10", "0028,1051": "5"})  # window ignored for colour
    assert out.dtype == np.uint8 and out.shape == (ROWS, COLS, 3)
    assert np.abs(out.astype(float) - rgb16 / 257.0).max() <= 0.5
    lut = (np.arange(256, dtype="<u2") * 257).tobytes()
    pal = PixelFormat(codec.EXPLICIT_LE, "PALETTE COLOR", 1, 8, 8, 0, 0, 1, 2,
                      palette=tuple(np.frombuffer(lut, "<u2") for _ in range(3)))
    assert render_for_display(np.array([[3, 250]], np.uint8), pal, {}).tolist() == [[[3, 3, 3], [250, 250, 250]]]
