"""The export's pure parts: options, JPEG codings, Aperio strings, and a spooled file through the adapter."""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest
from wsi.adapter import STREAM_CHUNK_BYTES, OrthancAdapter
from wsi.codec import PixelFormat
from wsi.errors import BadRequest
from wsi.export import aperio
from wsi.export.jpeg_tiles import DEFAULT_CODING, JpegCoding, encode_tile, sampling_factors, stored_coding
from wsi.export.options import ExportOptions
from wsi.export.spool import SpooledFile
from wsi.http import Response

from tests.support.fake_orthanc_module import FakeOrthancModule
from tests.support.fake_orthanc_module import RestOutput as FakeRestOutput

BASELINE, EXTENDED, LOSSLESS = "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.70"
RNG = np.random.default_rng(5)
PIXELS = RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)


def _fmt(photometric: str = "YBR_FULL_422", syntax: str = BASELINE, samples: int = 3) -> PixelFormat:
    return PixelFormat(syntax, photometric, samples, 8, 8, 0, 0, 64, 64)


# ---- options ------------------------------------------------------------------------------------------

def test_options_defaults_and_values() -> None:
    assert ExportOptions.from_query({}, 85) == ExportOptions(None, None, 85)
    assert ExportOptions.from_query({"optical-path": "2", "focal-plane": "1", "quality": "100"}, 90) == \
        ExportOptions("2", 1, 100)
    assert ExportOptions.from_query({"optical-path": "", "focal-plane": ""}, 90) == ExportOptions(None, None, 90)


@pytest.mark.parametrize(("query", "parameter"), [
    ({"quality": "0"}, "quality"), ({"quality": "101"}, "quality"), ({"quality": "9x"}, "quality"),
    ({"quality": "1000"}, "quality"), ({"focal-plane": "-1"}, "focal-plane"), ({"focal-plane": "1.5"}, "focal-plane"),
    ({"optical-path": "x" * 65}, "optical-path"), ({"optical-path": "\u00e9"}, "optical-path"),
    ({"size": "1"}, "size"),
])
def test_bad_options_name_their_parameter(query: dict[str, str], parameter: str) -> None:
    with pytest.raises(BadRequest) as raised:
        ExportOptions.from_query(query, 90)
    assert raised.value.parameter == parameter


# ---- JPEG codings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("coding", [JpegCoding("YCbCr", (2, 2)), JpegCoding("YCbCr", (2, 1)),
                                    JpegCoding("YCbCr", (1, 1)), JpegCoding("RGB", (1, 1))])
def test_a_tile_encoded_in_a_coding_is_read_back_as_that_coding(coding: JpegCoding) -> None:
    data = encode_tile(PIXELS, coding, 90)
    photometric = "RGB" if coding.colour == "RGB" else "YBR_FULL_422"
    assert stored_coding(_fmt(photometric), data) == coding
    decoded = imagecodecs.jpeg8_decode(data)
    assert decoded.shape == PIXELS.shape


def test_sampling_factors_come_from_the_frame_header() -> None:
    data = imagecodecs.jpeg8_encode(PIXELS, level=90, subsampling="420")
    assert sampling_factors(data) == ((2, 2), (1, 1), (1, 1))


def test_the_stream_decides_the_colour_before_the_label() -> None:
    jfif = imagecodecs.jpeg8_encode(PIXELS, level=90, subsampling="444")  # JFIF: YCbCr whatever the label says
    assert stored_coding(_fmt("RGB"), jfif) == JpegCoding("YCbCr", (1, 1))


@pytest.mark.parametrize("case", ["lossless", "12-bit", "grey", "not-jpeg", "progressive", "syntax"])
def test_frames_a_tiff_cannot_carry_as_stored_are_refused(case: str) -> None:
    fmt, data = _fmt(), imagecodecs.jpeg8_encode(PIXELS, level=90)
    if case == "lossless":
        fmt, data = _fmt(syntax=LOSSLESS), imagecodecs.jpeg8_encode(PIXELS, lossless=True)
    elif case == "12-bit":
        fmt = PixelFormat(EXTENDED, "YBR_FULL_422", 3, 16, 12, 0, 0, 64, 64)
        data = imagecodecs.jpeg8_encode(PIXELS.astype(np.uint16) << 4, level=90, bitspersample=12)
    elif case == "grey":
        grey = np.ascontiguousarray(PIXELS[..., 0])
        fmt, data = _fmt("MONOCHROME2", samples=1), imagecodecs.jpeg8_encode(grey, level=90)
    elif case == "not-jpeg":
        data = b"\x00" * 100
    elif case == "progressive":
        data = bytes(imagecodecs.jpeg8_encode(PIXELS, level=90, optimize=True))
        data = data.replace(b"\xff\xc0", b"\xff\xc2", 1)  # declared progressive: refused before any scan is read
    elif case == "syntax":
        fmt = _fmt(syntax="1.2.840.10008.1.2.4.91")
    assert stored_coding(fmt, data) is None


def test_tiff_colour_names() -> None:
    assert DEFAULT_CODING.tiff_colour == "YCBCR"
    assert JpegCoding("YCbCr", (2, 2)).tiff_colour == "YCBCR" and JpegCoding("RGB").tiff_colour == "RGB"


# ---- Aperio strings, as OpenSlide parses them ------------------------------------------------------------

def _openslide_fields(description: str) -> dict[str, str]:
    """OpenSlide's aperio reader: the parts after the first "|" are "key = value"."""
    return dict((part.split("=", 1)[0].strip(), part.split("=", 1)[1].strip()) for part in description.split("|")[1:])


def test_the_base_description_gives_mpp_and_magnification() -> None:
    text = aperio.base_description(1100, 700, (256, 256), 0.25, 20.0, 90, "series-1")
    assert text.startswith("Aperio")
    assert _openslide_fields(text) == {"AppMag": "20", "MPP": "0.25", "Title": "series-1"}
    assert "|" not in text.split("\r\n")[0]
    bare = aperio.base_description(1100, 700, (256, 256), None, None, 90, "s")
    assert _openslide_fields(bare) == {"Title": "s"}


def test_associated_descriptions_name_the_image_on_the_second_line() -> None:
    for name in ("label", "macro"):
        lines = aperio.associated_description(name, 400, 300).split("\r\n")
        assert lines[0].startswith("Aperio") and lines[1].split(" ")[0] == name


def test_resolution_in_pixels_per_centimetre() -> None:
    assert aperio.resolution_per_cm((0.00025, 0.0005)) == pytest.approx((40000.0, 20000.0))
    assert aperio.resolution_per_cm(None) is None and aperio.resolution_per_cm((0.0, 1.0)) is None


# ---- a spooled body through the adapter ----------------------------------------------------------------

def _spooled(size: int) -> tuple[SpooledFile, bytes]:
    body = RNG.integers(0, 256, size, dtype=np.uint8).tobytes()
    spooled = SpooledFile()
    spooled.file.write(body)
    return spooled, body


@pytest.mark.parametrize("version", ["4.0", "5.0"])
def test_a_spooled_file_is_sent_whole_and_closed(version: str) -> None:
    spooled, body = _spooled(3 * STREAM_CHUNK_BYTES + 17)
    output = FakeRestOutput(version)
    response = Response(200, b"", "image/tiff", {"Content-Disposition": "attachment"}, body_file=spooled)
    OrthancAdapter(FakeOrthancModule()).answer(output, response)
    assert output.sent is not None and output.sent[0] == 200 and output.sent[2] == body
    assert output.sent[1]["Content-Disposition"] == "attachment"
    if version == "5.0":  # streamed from disk, chunk by chunk, with our length
        assert output.streaming and output.chunks == [STREAM_CHUNK_BYTES] * 3 + [17]
        assert output.sent[1]["Content-Length"] == str(len(body))
    else:
        assert not output.streaming
    assert spooled.file.closed


def test_a_spooled_file_is_closed_when_the_client_leaves() -> None:
    spooled, _ = _spooled(4 * STREAM_CHUNK_BYTES)
    output = FakeRestOutput("5.0", client_reads=STREAM_CHUNK_BYTES)
    OrthancAdapter(FakeOrthancModule()).answer(output, Response(200, b"", "image/tiff", body_file=spooled))
    assert spooled.file.closed and len(output.chunks) < 4
