"""wsi.codec: every transfer syntax decoded from frames made in memory, colour rules, passthrough, encoders."""

from __future__ import annotations

import base64
import io
import struct

import imagecodecs
import numpy as np
import pytest
from PIL import Image, ImageCms
from pydicom.dataset import Dataset
from pydicom.pixels import get_encoder
from pydicom.pixels.processing import convert_color_space
from pydicom.uid import RLELossless
from wsi import codec, decoders, encoders, markers, stream_headers
from wsi.codec import PixelFormat, decode_frame
from wsi.errors import DecodeError, UnsupportedFeature, UnsupportedTransferSyntax, status_for

ROWS, COLS = 48, 64


def textured(channels: int = 3, bits: int = 8, signed: bool = False, seed: int = 0) -> np.ndarray:
    """Gradients plus mild noise: smooth enough for lossy codecs, varied enough to catch mistakes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:ROWS, 0:COLS]
    top = (1 << bits) - 1
    planes = [np.clip(x * 2 + y * (1 + c) + 50 * c, 0, 255) * (top // 255 if bits > 8 else 1) for c in range(channels)]
    img = np.stack(planes, -1).astype(np.int64) + rng.integers(-3, 4, (ROWS, COLS, channels))
    img = np.clip(img, 0, top)
    if signed:
        img = img - (1 << (bits - 1))
    dtype = (np.int16 if signed else np.uint16) if bits > 8 else np.uint8
    img = img.astype(dtype)
    return img[:, :, 0] if channels == 1 else img


def fmt(ts: str, photometric: str = "RGB", spp: int = 3, bits: int = 8, stored: int | None = None,
        signed: int = 0, planar: int = 0, **extra) -> PixelFormat:
    return PixelFormat(ts, photometric, spp, 16 if bits > 8 else bits, stored or bits, signed, planar,
                       ROWS, COLS, **extra)


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def j2k_mct_flag(stream: bytes) -> int:
    """MCT byte of the COD marker segment (ITU-T T.800 A.6.1)."""
    pos = stream.index(b"\xff\x52")
    return stream[pos + 8]


def strip_jpeg_colour_markers(jpeg: bytes) -> bytes:
    """Drop APP14 Adobe and renumber components 'R','G','B' -> 1,2,3: a stream that declares nothing."""
    out, pos = bytearray(jpeg[:2]), 2
    while True:
        marker, length = jpeg[pos + 1], struct.unpack_from(">H", jpeg, pos + 2)[0]
        seg = bytearray(jpeg[pos : pos + 2 + length])
        if marker in (0xC0, 0xC1, 0xC3):
            for i in range(seg[9]):
                seg[10 + 3 * i] = i + 1
        if marker == 0xDA:
            for i in range(seg[4]):
                seg[5 + 2 * i] = i + 1
            out += seg + jpeg[pos + 2 + length :]
            return bytes(out)
        if marker != 0xEE:
            out += seg
        pos += 2 + length


# --------------------------------------------------------------------------------------- native syntaxes


@pytest.mark.parametrize("ts", [codec.IMPLICIT_LE, codec.EXPLICIT_LE, codec.DEFLATED_LE, codec.EXPLICIT_BE])
def test_native_gray8_and_rgb8_exact(ts):
    gray, rgb = textured(1), textured(3)
    assert np.array_equal(decode_frame(gray.tobytes(), fmt(ts, "MONOCHROME2", 1)), gray)
    assert np.array_equal(decode_frame(rgb.tobytes(), fmt(ts)), rgb)


def test_native_planar_configuration_1():
    rgb = textured(3)
    planar = np.ascontiguousarray(rgb.transpose(2, 0, 1)).tobytes()
    assert np.array_equal(decode_frame(planar, fmt(codec.EXPLICIT_LE, planar=1)), rgb)


def test_native_16_bits_masks_bits_above_bits_stored():
    img = textured(1, bits=12)
    with_overlay = img | np.uint16(0x8000)  # an old-style overlay bit above BitsStored
    out = decode_frame(with_overlay.tobytes(), fmt(codec.EXPLICIT_LE, "MONOCHROME2", 1, bits=16, stored=12))
    assert out.dtype == np.uint16
    assert np.array_equal(out, img)


def test_native_signed_12_bits_is_sign_extended():
    img = textured(1, bits=12, signed=True)
    stored = (img.astype(np.int32) & 0x0FFF).astype(np.uint16)  # writer left the top 4 bits at zero
    out = decode_frame(stored.tobytes(), fmt(codec.EXPLICIT_LE, "MONOCHROME2", 1, bits=16, stored=12, signed=1))
    assert out.dtype == np.int16
    assert np.array_equal(out, img)


def test_big_endian_as_orthanc_returns_it_and_as_stored_in_the_file():
    img = textured(1, bits=16)
    f = fmt(codec.EXPLICIT_BE, "MONOCHROME2", 1, bits=16)
    # Orthanc 1.10 /frames/{n}/raw gives little-endian words for big endian files (docs/codec.md).
    assert np.array_equal(decode_frame(img.astype("<u2").tobytes(), f), img)
    assert np.array_equal(decode_frame(img.astype(">u2").tobytes(), f, big_endian_bytes=True), img)


def test_native_ybr_full_is_converted_like_pydicom():
    rgb = textured(3)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    out = decode_frame(ybr.tobytes(), fmt(codec.EXPLICIT_LE, "YBR_FULL"))
    expected = convert_color_space(ybr, "YBR_FULL", "RGB")
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1
    assert np.abs(out.astype(int) - rgb.astype(int)).max() <= 3


def test_native_ybr_full_422_upsamples_chroma():
    ybr = convert_color_space(textured(3), "RGB", "YBR_FULL")
    ybr[:, 1::2, 1:] = ybr[:, 0::2, 1:]  # chroma shared by each pair, so 4:2:2 loses nothing
    quads = np.stack([ybr[:, 0::2, 0], ybr[:, 1::2, 0], ybr[:, 0::2, 1], ybr[:, 0::2, 2]], -1)
    out = decode_frame(quads.tobytes(), fmt(codec.EXPLICIT_LE, "YBR_FULL_422"))
    expected = convert_color_space(ybr, "YBR_FULL", "RGB")
    assert out.shape == (ROWS, COLS, 3)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


def test_native_one_bit_frames():
    bits = (textured(1) > 128).astype(np.uint8)
    packed = np.packbits(bits.ravel(), bitorder="little").tobytes()
    out = decode_frame(packed, fmt(codec.EXPLICIT_LE, "MONOCHROME2", 1, bits=1))
    assert np.array_equal(out, bits)
    assert set(np.unique(codec.to_rgb8(out, fmt(codec.EXPLICIT_LE, "MONOCHROME2", 1, bits=1)))) <= {0, 255}


# -------------------------------------------------------------------------------------------------- RLE


def rle_encode(arr: np.ndarray, photometric: str, bits: int = 8, signed: int = 0) -> bytes:
    return get_encoder(RLELossless).encode(
        arr, rows=ROWS, columns=COLS, samples_per_pixel=3 if arr.ndim == 3 else 1,
        bits_allocated=bits, bits_stored=bits, pixel_representation=signed,
        photometric_interpretation=photometric, number_of_frames=1, planar_configuration=0,
    )


@pytest.mark.parametrize(
    ("img", "photometric", "bits", "signed"),
    [
        (textured(1), "MONOCHROME2", 8, 0),
        (textured(1, bits=16), "MONOCHROME2", 16, 0),
        (textured(1, bits=16, signed=True), "MONOCHROME2", 16, 1),
        (textured(3), "RGB", 8, 0),
    ],
    ids=["gray8", "gray16", "signed16", "rgb8"],
)
def test_rle_exact(img, photometric, bits, signed):
    data = rle_encode(img, photometric, bits, signed)
    f = fmt(codec.RLE_LOSSLESS, photometric, 3 if img.ndim == 3 else 1, bits=bits, signed=signed)
    out = decode_frame(data, f)
    assert out.dtype == img.dtype
    assert np.array_equal(out, img)


def test_rle_ybr_full_is_converted():
    ybr = convert_color_space(textured(3), "RGB", "YBR_FULL")
    out = decode_frame(rle_encode(ybr, "YBR_FULL"), fmt(codec.RLE_LOSSLESS, "YBR_FULL"))
    assert np.abs(out.astype(int) - convert_color_space(ybr, "YBR_FULL", "RGB").astype(int)).max() <= 1


# ------------------------------------------------------------------------------------------------- JPEG


def test_jpeg_baseline_jfif_ycbcr():
    rgb = textured(3)
    data = imagecodecs.jpeg8_encode(rgb, level=95)
    assert psnr(decode_frame(data, fmt(codec.JPEG_BASELINE, "YBR_FULL_422")), rgb) > 35


def test_jpeg_baseline_gray():
    gray = textured(1)
    data = imagecodecs.jpeg8_encode(gray, level=95)
    assert psnr(decode_frame(data, fmt(codec.JPEG_BASELINE, "MONOCHROME2", 1)), gray) > 35


def test_jpeg_rgb_with_adobe_marker():
    rgb = textured(3)
    data = imagecodecs.jpeg8_encode(rgb, level=95, colorspace="RGB", outcolorspace="RGB")
    assert psnr(decode_frame(data, fmt(codec.JPEG_BASELINE, "RGB")), rgb) > 35


def test_jpeg_rgb_without_markers_is_not_colour_converted():
    rgb = textured(3)
    data = strip_jpeg_colour_markers(
        bytes(imagecodecs.jpeg8_encode(rgb, level=95, colorspace="RGB", outcolorspace="RGB"))
    )
    assert psnr(imagecodecs.jpeg8_decode(data), rgb) < 20  # what libjpeg (and a browser) would show
    assert psnr(decode_frame(data, fmt(codec.JPEG_BASELINE, "RGB")), rgb) > 35


def test_jpeg_extended_12_bits():
    img = textured(1, bits=12)
    data = imagecodecs.jpeg8_encode(img, level=95, bitspersample=12)
    out = decode_frame(data, fmt(codec.JPEG_EXTENDED, "MONOCHROME2", 1, bits=16, stored=12))
    assert out.dtype == np.uint16
    assert psnr(out, img, 4095) > 35


@pytest.mark.parametrize("ts", [codec.JPEG_LOSSLESS, codec.JPEG_LOSSLESS_SV1])
def test_jpeg_lossless_exact(ts):
    rgb, gray = textured(3), textured(1, bits=12)
    data = imagecodecs.jpeg8_encode(rgb, lossless=True, colorspace="RGB", outcolorspace="RGB")
    assert np.array_equal(decode_frame(data, fmt(ts, "RGB")), rgb)
    data = imagecodecs.ljpeg_encode(gray, bitspersample=12)
    assert np.array_equal(decode_frame(data, fmt(ts, "MONOCHROME2", 1, bits=16, stored=12)), gray)


def test_jpeg_lossless_ybr_full_label_is_converted():
    ybr = convert_color_space(textured(3), "RGB", "YBR_FULL")
    data = imagecodecs.jpeg8_encode(ybr, lossless=True, colorspace="RGB", outcolorspace="RGB")
    out = decode_frame(data, fmt(codec.JPEG_LOSSLESS_SV1, "YBR_FULL"))
    assert np.abs(out.astype(int) - convert_color_space(ybr, "YBR_FULL", "RGB").astype(int)).max() <= 1


# --------------------------------------------------------------------------------------------- JPEG-LS


def test_jpegls_lossless_exact():
    rgb, gray = textured(3), textured(1, bits=16)
    assert np.array_equal(decode_frame(imagecodecs.jpegls_encode(rgb), fmt(codec.JPEG_LS_LOSSLESS)), rgb)
    data = imagecodecs.jpegls_encode(gray)
    assert np.array_equal(decode_frame(data, fmt(codec.JPEG_LS_LOSSLESS, "MONOCHROME2", 1, bits=16)), gray)


def test_jpegls_near_lossless_error_bound():
    rgb = textured(3)
    out = decode_frame(imagecodecs.jpegls_encode(rgb, level=2), fmt(codec.JPEG_LS_NEAR))
    assert np.abs(out.astype(int) - rgb.astype(int)).max() <= 2


# -------------------------------------------------------------------------------------- JPEG 2000, HTJ2K


@pytest.mark.parametrize("mct", [True, False])
@pytest.mark.parametrize("label", ["RGB", "YBR_RCT", "YBR_FULL_422", "YBR_FULL"])
def test_jpeg2000_lossless_trusts_the_codestream_not_the_label(mct, label):
    """YBR_FULL_422 without MCT is how OrthancWSIDicomizer 1.1 labels plain RGB codestreams."""
    rgb = textured(3)
    data = bytes(imagecodecs.jpeg2k_encode(rgb, codecformat="J2K", reversible=True, mct=mct))
    assert j2k_mct_flag(data) == int(mct)
    assert np.array_equal(decode_frame(data, fmt(codec.JPEG2000_LOSSLESS, label)), rgb)


def test_jpeg2000_lossy_ict():
    rgb = textured(3)
    data = bytes(imagecodecs.jpeg2k_encode(rgb, level=45, codecformat="J2K", reversible=False))
    assert j2k_mct_flag(data) == 1
    assert psnr(decode_frame(data, fmt(codec.JPEG2000, "YBR_ICT")), rgb) > 35


@pytest.mark.parametrize("signed", [0, 1])
def test_jpeg2000_16_bits(signed):
    img = textured(1, bits=16, signed=bool(signed))
    data = imagecodecs.jpeg2k_encode(img, codecformat="J2K", reversible=True)
    out = decode_frame(data, fmt(codec.JPEG2000_LOSSLESS, "MONOCHROME2", 1, bits=16, signed=signed))
    assert out.dtype == img.dtype
    assert np.array_equal(out, img)


@pytest.mark.parametrize("ts", [codec.HTJ2K_LOSSLESS, codec.HTJ2K_LOSSLESS_RPCL])
def test_htj2k_lossless(ts):
    rgb, gray = textured(3), textured(1, bits=16)
    assert np.array_equal(decode_frame(imagecodecs.htj2k_encode(rgb, reversible=True), fmt(ts, "YBR_RCT")), rgb)
    data = imagecodecs.htj2k_encode(gray, reversible=True)
    assert np.array_equal(decode_frame(data, fmt(ts, "MONOCHROME2", 1, bits=16)), gray)


def test_htj2k_lossy_near_white_does_not_wrap():
    """OpenJPH 0.26 returns 0 for samples just above 255 in irreversible streams; openjpeg clips."""
    rgb = textured(3)
    data = imagecodecs.htj2k_encode(rgb, level=0.002, reversible=False)
    assert psnr(decode_frame(data, fmt(codec.HTJ2K, "YBR_ICT")), rgb) > 30


# ------------------------------------------------------------------------------------------------ JPEG XL


def test_jpegxl_lossless():
    rgb, gray = textured(3), textured(1, bits=16)
    assert np.array_equal(decode_frame(imagecodecs.jpegxl_encode(rgb, lossless=True), fmt(codec.JPEGXL_LOSSLESS)), rgb)
    data = imagecodecs.jpegxl_encode(gray, lossless=True)
    assert np.array_equal(decode_frame(data, fmt(codec.JPEGXL_LOSSLESS, "MONOCHROME2", 1, bits=16)), gray)


def test_jpegxl_lossy_and_jpeg_recompression():
    rgb = textured(3)
    assert psnr(decode_frame(imagecodecs.jpegxl_encode(rgb, distance=1.0), fmt(codec.JPEGXL)), rgb) > 30
    jpeg = imagecodecs.jpeg8_encode(rgb, level=95)
    data = imagecodecs.jpegxl_encode_jpeg(jpeg)
    out = decode_frame(data, fmt(codec.JPEGXL_JPEG, "YBR_FULL_422"))
    assert psnr(out, imagecodecs.jpeg8_decode(jpeg)) > 40


# ----------------------------------------------------------------------------------------------- failures


def test_unknown_transfer_syntax_is_501():
    with pytest.raises(UnsupportedTransferSyntax) as err:
        decode_frame(b"\0" * 10, fmt("1.2.840.10008.1.2.4.100"))  # MPEG-2
    assert status_for(err.value) == 501


def test_four_samples_per_pixel_is_unsupported():
    with pytest.raises(UnsupportedTransferSyntax):
        decode_frame(b"\0" * (ROWS * COLS * 4), fmt(codec.EXPLICIT_LE, "ARGB", 4))


@pytest.mark.parametrize("ts", [codec.JPEG_BASELINE, codec.JPEG2000, codec.HTJ2K, codec.JPEGXL, codec.JPEG_LS_LOSSLESS])
def test_corrupt_frame_is_decode_error(ts):
    with pytest.raises(DecodeError) as err:
        decode_frame(b"\xff\xd8garbage" * 4, fmt(ts))
    assert status_for(err.value) == 500


def test_truncated_native_frame_is_decode_error():
    with pytest.raises(DecodeError):
        decode_frame(textured(3).tobytes()[:-10], fmt(codec.EXPLICIT_LE))


def test_wrong_frame_size_is_decode_error():
    data = imagecodecs.jpeg2k_encode(textured(3)[:, :32].copy(), codecformat="J2K", reversible=True)
    with pytest.raises(DecodeError, match="header declares 32 x 48 pixels"):  # refused before decoding
        decode_frame(data, fmt(codec.JPEG2000_LOSSLESS))


# ------------------------------------------------------------------------------------------ 8-bit tiles


def test_to_rgb8_scales_bits_stored_range_linearly():
    f = fmt(codec.EXPLICIT_LE, "MONOCHROME2", 1, bits=16, stored=12)
    out = codec.to_rgb8(np.array([[0, 4095, 2048, 16]], np.uint16), f)
    assert out.shape == (1, 4, 3) and out.dtype == np.uint8
    assert out[0, :, 0].tolist() == [0, 255, 128, 1]
    assert np.array_equal(out[..., 0], out[..., 2])


def test_to_rgb8_signed_lowest_is_black():
    f = fmt(codec.EXPLICIT_LE, "MONOCHROME2", 1, bits=16, stored=12, signed=1)
    out = codec.to_rgb8(np.array([[-2048, 2047, 0]], np.int16), f)
    assert out[0, :, 0].tolist() == [0, 255, 128]


def test_to_rgb8_monochrome1_is_inverted():
    gray = textured(1)
    out = codec.to_rgb8(gray, fmt(codec.EXPLICIT_LE, "MONOCHROME1", 1))
    assert np.array_equal(out[..., 1], 255 - gray)


def test_to_rgb8_rgb16():
    img = textured(3, bits=16)
    out = codec.to_rgb8(img, fmt(codec.EXPLICIT_LE, "RGB", 3, bits=16))
    assert np.abs(out.astype(int) - np.rint(img / 257.0)).max() <= 1


# ------------------------------------------------------------------------------------------- PALETTE COLOR


def orthanc_palette_tags(descriptor: str = "256\\0\\16") -> dict:
    """What Orthanc's /instances/{id}/tags?short returns: LUT data tags are null."""
    return {
        "0028,0002": "1", "0028,0004": "PALETTE COLOR", "0028,0010": str(ROWS), "0028,0011": str(COLS),
        "0028,0100": "8", "0028,0101": "8", "0028,0102": "7", "0028,0103": "0",
        "0028,1101": descriptor, "0028,1102": descriptor, "0028,1103": descriptor,
        "0028,1201": None, "0028,1202": None, "0028,1203": None, "7fe0,0010": None,
    }


def test_palette_from_orthanc_tags_and_content_bytes():
    red = np.arange(256, dtype="<u2") * 257
    green, blue = red[::-1].copy(), (red // 2).astype("<u2")
    tags = orthanc_palette_tags()
    assert PixelFormat.from_dicom_json(tags, codec.EXPLICIT_LE).needs_palette_data
    with pytest.raises(UnsupportedFeature):
        codec.to_rgb8(textured(1), PixelFormat.from_dicom_json(tags, codec.EXPLICIT_LE))
    f = PixelFormat.from_dicom_json(tags, codec.EXPLICIT_LE, (red.tobytes(), green.tobytes(), blue.tobytes()))
    index = textured(1)
    out = codec.to_rgb8(decode_frame(index.tobytes(), f), f)
    assert np.array_equal(out[..., 0], index)
    assert np.array_equal(out[..., 1], 255 - index)
    assert np.array_equal(out[..., 2], (blue >> 8)[index])


def test_palette_8_bit_entries_and_first_mapped_value():
    lut = bytes(range(0, 160, 10))  # 16 one-byte entries
    tags = orthanc_palette_tags("16\\100\\8")
    f = PixelFormat.from_dicom_json(tags, codec.EXPLICIT_LE, (lut, lut, lut))
    out = codec.to_rgb8(np.array([[0, 100, 105, 115, 200]], np.uint8), f)
    assert out[0, :, 0].tolist() == [0, 0, 50, 150, 150]  # below/above the table: its ends


def test_palette_from_dicomweb_json_ours_and_pydicoms():
    lut = (np.arange(256, dtype="<u2") * 257).tobytes()
    web = {"00280004": {"vr": "CS", "Value": ["PALETTE COLOR"]}, "00280010": {"vr": "US", "Value": [ROWS]},
           "00280011": {"vr": "US", "Value": [COLS]}, "00280100": {"vr": "US", "Value": [8]}}
    for i in (1, 2, 3):
        web[f"0028110{i}"] = {"vr": "US", "Value": [256, 0, 16]}
        web[f"0028120{i}"] = {"vr": "OW", "InlineBinary": base64.b64encode(lut).decode()}
    f = PixelFormat.from_dicom_json(web, codec.EXPLICIT_LE)
    assert not f.needs_palette_data and f.rows == ROWS
    assert codec.to_rgb8(np.array([[7]], np.uint8), f).tolist() == [[[7, 7, 7]]]

    ds = Dataset()  # the same, written by pydicom as DICOMweb JSON
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored = ROWS, COLS, 1, 8, 8
    ds.PixelRepresentation, ds.PhotometricInterpretation = 0, "PALETTE COLOR"
    for name in ("Red", "Green", "Blue"):
        setattr(ds, f"{name}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{name}PaletteColorLookupTableData", lut)
    f2 = PixelFormat.from_dicom_json(ds.to_json_dict(), codec.EXPLICIT_LE)
    assert f2 == f  # palettes are left out of equality and hashing
    assert hash(f2) == hash(f)
    assert codec.to_rgb8(np.array([[9]], np.uint8), f2).tolist() == [[[9, 9, 9]]]


def test_pixel_format_from_orthanc_full_tags():
    full = {"0028,0004": {"Name": "PhotometricInterpretation", "Type": "String", "Value": "YBR_FULL_422"},
            "0028,0002": {"Name": "SamplesPerPixel", "Type": "String", "Value": "3"},
            "0028,0010": {"Name": "Rows", "Type": "String", "Value": "256"},
            "0028,0011": {"Name": "Columns", "Type": "String", "Value": "512"},
            "0028,0100": {"Name": "BitsAllocated", "Type": "String", "Value": "8"}}
    f = PixelFormat.from_dicom_json(full, codec.JPEG_BASELINE + "\0")
    assert (f.photometric, f.samples_per_pixel, f.rows, f.columns, f.bits_stored) == ("YBR_FULL_422", 3, 256, 512, 8)
    assert f.transfer_syntax == codec.JPEG_BASELINE


# -------------------------------------------------------------------------------------------- passthrough


def jpeg_frames() -> dict[str, bytes]:
    rgb, gray = textured(3), textured(1)
    adobe_rgb = bytes(imagecodecs.jpeg8_encode(rgb, level=90, colorspace="RGB", outcolorspace="RGB"))
    return {
        "jfif": bytes(imagecodecs.jpeg8_encode(rgb, level=90)),
        "gray": bytes(imagecodecs.jpeg8_encode(gray, level=90)),
        "adobe_rgb": adobe_rgb,
        "bare_rgb": strip_jpeg_colour_markers(adobe_rgb),
        "lossless": bytes(imagecodecs.jpeg8_encode(rgb, lossless=True)),
        "12bit": bytes(imagecodecs.jpeg8_encode(textured(1, bits=12), level=90, bitspersample=12)),
    }


@pytest.mark.parametrize(
    ("frame", "ts", "photometric", "spp", "expected"),
    [
        ("jfif", codec.JPEG_BASELINE, "YBR_FULL_422", 3, True),
        ("jfif", codec.JPEG_EXTENDED, "YBR_FULL", 3, True),
        ("gray", codec.JPEG_BASELINE, "MONOCHROME2", 1, True),
        ("gray", codec.JPEG_BASELINE, "MONOCHROME1", 1, False),  # needs inversion
        ("adobe_rgb", codec.JPEG_BASELINE, "RGB", 3, True),
        ("bare_rgb", codec.JPEG_BASELINE, "RGB", 3, False),  # a browser would assume YCbCr
        ("bare_rgb", codec.JPEG_BASELINE, "YBR_FULL_422", 3, True),
        ("lossless", codec.JPEG_BASELINE, "RGB", 3, False),  # mislabelled lossless stream
        ("lossless", codec.JPEG_LOSSLESS_SV1, "RGB", 3, False),
        ("jfif", codec.JPEG2000, "YBR_FULL_422", 3, False),
        ("jfif", codec.JPEG_BASELINE, "YBR_FULL_422", 1, False),  # component count disagrees
    ],
)
def test_passthrough_decision(frame, ts, photometric, spp, expected):
    data = jpeg_frames()[frame]
    assert codec.can_pass_through_jpeg(fmt(ts, photometric, spp), data) is expected


def test_passthrough_12_bits_and_without_data():
    f12 = fmt(codec.JPEG_EXTENDED, "MONOCHROME2", 1, bits=16, stored=12)
    assert not codec.can_pass_through_jpeg(f12, jpeg_frames()["12bit"])
    assert codec.can_pass_through_jpeg(fmt(codec.JPEG_BASELINE, "YBR_FULL_422"))
    # An RGB label may pass through: the frame's markers decide (Adobe transform 0 yes, none no).
    assert codec.can_pass_through_jpeg(fmt(codec.JPEG_BASELINE, "RGB"))
    assert not codec.can_pass_through_jpeg(fmt(codec.JPEG_BASELINE, "MONOCHROME1"))


# ------------------------------------------------------------------------------------------------ encoders


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_png_roundtrip_and_icc():
    rgb, icc = textured(3), srgb_profile()
    plain = encoders.encode_png(rgb)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(plain))), rgb)
    tagged = encoders.encode_png(rgb, icc)
    im = Image.open(io.BytesIO(tagged))
    assert im.info.get("icc_profile") == icc
    assert np.array_equal(np.asarray(im), rgb)
    gray = textured(1)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encoders.encode_png(gray, icc)))), gray)


@pytest.mark.parametrize("size", [3000, 150_000])  # one APP2 segment, and three
def test_jpeg_icc_embedding_without_reencoding(size):
    rng = np.random.default_rng(size)
    icc = srgb_profile() if size < 65519 else rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    plain = encoders.encode_jpeg(textured(3), 90)
    tagged = markers.embed_icc_in_jpeg(plain, icc)
    im = Image.open(io.BytesIO(tagged))
    assert im.info.get("icc_profile") == icc
    assert np.array_equal(np.asarray(im), np.asarray(Image.open(io.BytesIO(plain))))
    assert tagged.endswith(plain[-1000:])  # entropy-coded data untouched
    assert tagged.index(b"ICC_PROFILE") > tagged.index(b"JFIF")  # after SOI + APP0


def test_jpeg_icc_replaces_an_existing_profile():
    first = encoders.encode_jpeg(textured(3), 90, icc=b"A" * 5000)
    again = markers.embed_icc_in_jpeg(first, b"B" * 7000)
    assert again.count(b"ICC_PROFILE") == 1
    assert Image.open(io.BytesIO(again)).info["icc_profile"] == b"B" * 7000


def test_encode_dispatch():
    rgb = textured(3)
    jpeg = encoders.encode(rgb, "image/jpeg", quality=95)
    assert psnr(np.asarray(Image.open(io.BytesIO(jpeg))), rgb) > 35
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encoders.encode(rgb, "image/png")))), rgb)
    jp2 = encoders.encode(rgb, "image/jp2")
    assert jp2[4:8] == b"jP  " and np.array_equal(imagecodecs.jpeg2k_decode(jp2), rgb)
    webp = encoders.encode(rgb, "image/webp", quality=95)
    assert webp[:4] == b"RIFF" and psnr(np.asarray(Image.open(io.BytesIO(webp)).convert("RGB")), rgb) > 30
    with pytest.raises(UnsupportedFeature):
        encoders.encode(rgb, "image/gif")


@pytest.mark.parametrize("channels", [None, 1, 2])  # HxW, HxWx1, grey + alpha
def test_webp_of_grey_pixels(channels):
    grey = textured(1)
    pixels = grey if channels is None else np.dstack([grey] * channels)
    if channels == 2:  # transparent corners, as after a rotation
        pixels[:, :, 1] = 255
        pixels[:8, :8, 1] = 0
    decoded = np.asarray(imagecodecs.webp_decode(encoders.encode(pixels, "image/webp", quality=95)))
    assert decoded.shape[2] == (4 if channels == 2 else 3)
    if channels == 2:
        assert decoded[0, 0, 3] == 0 and decoded[-1, -1, 3] == 255
    assert psnr(decoded[8:, 8:, :3], np.dstack([grey] * 3)[8:, 8:]) > 30


def test_encoders_accept_non_contiguous_arrays():
    rgb = np.asfortranarray(textured(3))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encoders.encode_png(rgb)))), rgb)


# ------------------------------------------------------------------------------- corrupt frames (guards)

from tests.support import corrupt  # noqa: E402


def encoded(ts: str, pixels: np.ndarray) -> bytes:
    """A valid frame of `ts` holding `pixels`."""
    if ts in (codec.JPEG_BASELINE, codec.JPEG_EXTENDED):
        return bytes(imagecodecs.jpeg8_encode(pixels, level=90))
    if ts == codec.JPEG_LOSSLESS_SV1:
        return bytes(imagecodecs.jpeg8_encode(pixels, lossless=True, predictor=1))
    if ts == codec.JPEG_LS_LOSSLESS:
        return bytes(imagecodecs.jpegls_encode(pixels))
    if ts == codec.JPEG2000_LOSSLESS:
        return bytes(imagecodecs.jpeg2k_encode(pixels, codecformat="J2K", reversible=True))
    if ts == codec.HTJ2K_LOSSLESS:
        return bytes(imagecodecs.htj2k_encode(pixels, reversible=True))
    return bytes(imagecodecs.jpegxl_encode(pixels, lossless=True))


GUARDED = [codec.JPEG_BASELINE, codec.JPEG_LOSSLESS_SV1, codec.JPEG_LS_LOSSLESS, codec.JPEG2000_LOSSLESS,
           codec.HTJ2K_LOSSLESS, codec.JPEGXL_LOSSLESS]


@pytest.mark.parametrize("ts", GUARDED)
@pytest.mark.parametrize("shape", [(48, 64, 3), (40, 56), (8, 40, 3)])
def test_stream_header_reads_size_components_bits(ts, shape):
    pixels = textured(len(shape) if len(shape) == 3 else 1)
    pixels = np.ascontiguousarray(pixels[: shape[0], : shape[1]])
    header = stream_headers.read_stream_header(encoded(ts, pixels), ts)
    assert (header.height, header.width) == shape[:2]
    if header.components:  # JPEG XL's are not read (its metadata is not cheap)
        assert header.components == (shape[2] if len(shape) == 3 else 1) and header.bits == 8


def test_jpeg_xl_container_and_ratio_sizes():
    for shape in [(256, 256, 3), (200, 300), (8, 5000), (1000, 1001, 3)]:
        for options in ({"lossless": True}, {"usecontainer": True}):
            data = bytes(imagecodecs.jpegxl_encode(np.zeros(shape, np.uint8), **options))
            header = stream_headers.read_stream_header(data, codec.JPEGXL)
            assert (header.height, header.width) == shape[:2]


@pytest.mark.parametrize("ts", GUARDED)
def test_huge_declared_size_is_refused_before_decoding(ts, monkeypatch):
    data = encoded(ts, textured(3))
    if ts.endswith((".50", ".70", ".80")):
        data = corrupt.patch_jpeg_sof(data, width=65000, height=65000)
    elif ts.endswith((".90", ".201")):
        data = corrupt.patch_j2k_siz(data, width=65000, height=65000)
    else:
        data = corrupt.patch_jxl_size(data, 65000, 65000)
    def decoder_called(*_):
        raise AssertionError("the decoder was called")

    monkeypatch.setitem(decoders._DECODERS, ts, decoder_called)
    with pytest.raises(DecodeError, match="declares 65000 x 65000 pixels, over the limit"):
        stream_headers.check_stream(data, ts, ROWS, COLS, 3, 8)
    with pytest.raises(DecodeError, match="65000 x 65000"):
        decode_frame(data, fmt(ts))


@pytest.mark.parametrize(("ts", "lie", "message"), [
    (codec.JPEG_BASELINE, {"components": 1}, "1 components, the tags 3 samples"),
    (codec.JPEG_BASELINE, {"precision": 12}, "12 bits, the tags 8 bits allocated"),
    (codec.JPEG_BASELINE, {"height": 0}, "declares no height"),
    (codec.JPEG_LS_LOSSLESS, {"width": 63}, "63 x 48 pixels, the tags 64 x 48"),
    (codec.JPEG2000_LOSSLESS, {"components": 4}, "4 components"),
    (codec.JPEG2000_LOSSLESS, {"bits": 16}, "16 bits"),
    (codec.HTJ2K_LOSSLESS, {"height": 1}, "64 x 1 pixels, the tags 64 x 48"),
])
def test_lying_headers_are_refused(ts, lie, message):
    data = encoded(ts, textured(3))
    patch = corrupt.patch_j2k_siz if ts in (codec.JPEG2000_LOSSLESS, codec.HTJ2K_LOSSLESS) else corrupt.patch_jpeg_sof
    with pytest.raises(DecodeError, match=message):
        decode_frame(patch(data, **lie), fmt(ts))


@pytest.mark.parametrize("ts", GUARDED)
def test_cut_and_empty_frames_are_decode_errors(ts):
    data = encoded(ts, textured(3))
    with pytest.raises(DecodeError, match="empty"):
        decode_frame(b"", fmt(ts))
    for cut in (1, 3, 10):
        with pytest.raises(DecodeError):
            decode_frame(data[:cut], fmt(ts))


def test_jpeg_ls_cut_short_is_refused_at_once():
    """CharLS 2.4 spends 8-14 s on some JPEG-LS streams cut short; without their end marker they are refused."""
    data = encoded(codec.JPEG_LS_LOSSLESS, textured(3))
    with pytest.raises(DecodeError, match="no end-of-image marker"):
        decode_frame(data[:100], fmt(codec.JPEG_LS_LOSSLESS))
    assert decode_frame(data + b"\0", fmt(codec.JPEG_LS_LOSSLESS)).shape == (ROWS, COLS, 3)  # even-length pad


def test_frames_over_the_pixel_limit_are_refused():
    big = PixelFormat(codec.EXPLICIT_LE, "MONOCHROME2", 1, 8, 8, 0, 0, 20000, 20000)
    with pytest.raises(UnsupportedFeature, match=r"over the limit of 134217728 \(WholeSlideImaging\.MaxFramePixels\)"):
        decode_frame(b"\0" * 16, big)


@pytest.mark.parametrize("ts", [codec.EXPLICIT_LE, *GUARDED])
def test_a_lowered_pixel_limit_is_the_one_applied(ts):
    """WholeSlideImaging.MaxFramePixels reaches both checks: the tags' size and the stream header's."""
    data = encoded(ts, textured(3)) if ts != codec.EXPLICIT_LE else textured(3).tobytes()
    assert decode_frame(data, fmt(ts), max_pixels=ROWS * COLS).shape == (ROWS, COLS, 3)
    with pytest.raises(UnsupportedFeature, match=f"{COLS} x {ROWS} pixels are over the limit of {ROWS * COLS - 1} "):
        decode_frame(data, fmt(ts), max_pixels=ROWS * COLS - 1)
    if ts != codec.EXPLICIT_LE:
        with pytest.raises(DecodeError, match=f"declares {COLS} x {ROWS} pixels, over the limit of 1024 "):
            stream_headers.check_stream(data, ts, ROWS, COLS, 3, 8, max_pixels=1024)


def test_passthrough_refuses_a_jpeg_whose_size_disagrees():
    data = corrupt.patch_jpeg_sof(encoded(codec.JPEG_BASELINE, textured(3)), width=65000, height=65000)
    assert not codec.can_pass_through_jpeg(fmt(codec.JPEG_BASELINE, "YBR_FULL_422"), data)


def test_rle_header_is_checked_before_decoding():
    """imagecodecs' dicomrle_decode reads past its input when an offset points beyond it (SIGBUS measured)."""
    rgb = textured(3)
    data = get_encoder(RLELossless).encode(rgb, rows=ROWS, columns=COLS, samples_per_pixel=3, bits_allocated=8,
                                           bits_stored=8, pixel_representation=0, photometric_interpretation="RGB",
                                           number_of_frames=1, planar_configuration=0)
    rle = fmt(codec.RLE_LOSSLESS)
    assert np.array_equal(decode_frame(data, rle), rgb)
    for hostile, message in ((data[:200], "do not fit 200 bytes"), (data[:40], "cut short"),
                             (struct.pack("<I", 15) + data[4:], "15 segments, the tags 3")):
        with pytest.raises(DecodeError, match=message):
            decode_frame(hostile, rle)


# ------------------------------------------------------------------------------------------ native libraries


def test_native_modules_are_loaded_deep_bound_in_a_fresh_interpreter():
    """wsi.native sets RTLD_DEEPBIND for every later import and loads the codec modules at once."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    plugin = Path(__file__).resolve().parents[2] / "plugin"
    script = ("import os, sys; from wsi import native; loaded = native.bind_to_own_libraries(); "
              "print(sys.getdlopenflags() == os.RTLD_NOW | os.RTLD_DEEPBIND, ' '.join(loaded))")
    out = subprocess.run([sys.executable, "-c", script], cwd=plugin, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(plugin)}).stdout.split()
    assert out[0] == "True"
    for module in ("imagecodecs._jpeg8", "imagecodecs._jpegls", "imagecodecs._jpeg2k", "imagecodecs._jpegxl",
                   "imagecodecs._imcd", "imagecodecs._png", "imagecodecs._webp", "PIL._imaging", "PIL._webp"):
        assert module in out[1:]
    late = ("import numpy, sys; from wsi import native; native.bind_to_own_libraries()")
    failed = subprocess.run([sys.executable, "-c", late], cwd=plugin, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(plugin)})
    assert failed.returncode != 0 and "imported before" in failed.stderr


@pytest.mark.parametrize("shape", [(256, 384, 3), (64, 48), (33, 17, 1)])
def test_lossless_webp_is_exact_and_smaller_than_png(shape):
    rng = np.random.default_rng(7)
    smooth = np.cumsum(rng.integers(-2, 3, size=shape), axis=0)  # slide-like: neighbours alike
    pixels = np.clip(smooth + 128, 0, 255).astype(np.uint8)
    body = encoders.encode_webp_lossless(pixels)
    with Image.open(io.BytesIO(body)) as image:
        assert image.format == "WEBP" and image.mode == "RGB"
        decoded = np.asarray(image)
    grey = pixels if pixels.ndim == 2 else pixels[:, :, 0] if shape[-1] == 1 else None
    expected = np.repeat(grey[:, :, None], 3, axis=2) if grey is not None else pixels
    assert np.array_equal(decoded, expected)
    if shape == (256, 384, 3):
        assert len(body) < 0.8 * len(encoders.encode_png(pixels))


def test_lossless_webp_carries_the_icc_profile():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = np.full((16, 16, 3), (200, 120, 90), np.uint8)
    with Image.open(io.BytesIO(encoders.encode_webp_lossless(pixels, icc))) as image:
        assert image.info["icc_profile"] == icc and np.array_equal(np.asarray(image), pixels)
