"""Every pixel coding the codec claims, decoded inside a real Orthanc: alone, and with orthanc-gdcm loaded.

Each coding (tests/support/coded_images.py: transfer syntax x bit depth x photometric x planar) is written
as a two-level whole-slide pyramid and as a non-WSI Secondary Capture image, and served through
/wsi/tiles, IIIF tiles and IIIF frames. Pixels are compared with what the test computes from the samples
it stored: exactly for lossless codings (YBR -> RGB may round by one level), by PSNR for lossy ones (the
threshold is in each coding). The 12-bit and lossless 16-bit JPEG cases segfaulted Orthanc before
wsi/native.py; so Orthanc must be alive after the matrix and must stop cleanly.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from tests.browser.viewer_page import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import PLUGIN_SCRIPT
from tests.support import coded_images as ci
from tests.support.orthanc_server import PYTHON_PLUGIN, OrthancServer, require_orthanc

pytestmark = pytest.mark.integration

GDCM_PLUGIN = "/usr/share/orthanc/plugins/libOrthancGdcm.so"
WIDTH = HEIGHT = 512  # level 0: 2 x 2 tiles of 256 px; level 1: one tile


@dataclass
class Written:
    coding: ci.Coding
    picture: np.ndarray  # level 0 scene
    wsi: list[Path]
    frame: Path


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Written]:
    out = tmp_path_factory.mktemp("codings")
    files = {}
    for number, coding in enumerate(ci.CODINGS):
        picture = ci.scene(coding, WIDTH, HEIGHT, seed=number)
        files[coding.name] = Written(coding, picture, ci.write_wsi(out / coding.name, coding, picture),
                                     ci.write_frame_image(out / f"{coding.name}-frame.dcm", coding,
                                                          picture[::2, ::2]))
    return files


def start_orthanc(folder: Path, with_gdcm: bool) -> OrthancServer:
    plugins = [GDCM_PLUGIN, PYTHON_PLUGIN] if with_gdcm else [PYTHON_PLUGIN]
    return OrthancServer(PLUGIN_SCRIPT, storage_dir=folder, extra_config={"Plugins": plugins})


@pytest.fixture(scope="module", params=["alone", "with-gdcm"])
def served(request, written, tmp_path_factory):
    """(server, {coding name: (slide series id, frame series id)}); Orthanc with our plugin, gdcm or not."""
    require_orthanc()
    with_gdcm = request.param == "with-gdcm"
    if with_gdcm and not Path(GDCM_PLUGIN).exists():
        pytest.skip(f"{GDCM_PLUGIN} is missing (Debian package orthanc-gdcm)")
    server = start_orthanc(tmp_path_factory.mktemp(f"orthanc-{request.param}"), with_gdcm)
    server.start()
    try:
        ids = {name: (server.upload_series(w.wsi), server.upload_series([w.frame])) for name, w in written.items()}
        yield server, ids
    finally:
        server.stop()


# ---- comparing -----------------------------------------------------------------------------------------

def decode_answer(status: int, headers: dict[str, str], body: bytes, what: str) -> np.ndarray:
    assert status == 200, f"{what}: {status} {body[:200]!r}"
    media_type = headers.get("content-type", "")
    if media_type == "image/png":
        return np.asarray(imagecodecs.png_decode(body))
    if media_type == "image/jpeg":
        return np.asarray(imagecodecs.jpeg8_decode(body))
    if media_type == "image/webp":
        return np.asarray(imagecodecs.webp_decode(body))
    raise AssertionError(f"{what}: unexpected {media_type}")


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels[:, :, None], 3, axis=2) if pixels.ndim == 2 else pixels[:, :, :3]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


BROWSER_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def assert_pixels(got: np.ndarray, expected: np.ndarray, coding: ci.Coding, what: str) -> None:
    got, expected = as_rgb(got), as_rgb(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, expected {expected.shape}"
    if coding.max_error is not None:
        error = int(np.abs(got.astype(np.int32) - expected.astype(np.int32)).max())
        assert error <= coding.max_error, f"{what}: max error {error} > {coding.max_error}"
    if coding.min_psnr is not None:
        value = psnr(got, expected)
        assert value >= coding.min_psnr, f"{what}: PSNR {value:.1f} dB < {coding.min_psnr}"


def tile_truth(w: Written, level: int, tx: int, ty: int) -> np.ndarray:
    view = w.picture if level == 0 else w.picture[::2, ::2]
    part = np.ascontiguousarray(view[ty * ci.TILE:(ty + 1) * ci.TILE, tx * ci.TILE:(tx + 1) * ci.TILE])
    return ci.expected_rgb8(w.coding, ci.stored_samples(w.coding, part))


# ---- the matrix ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [c.name for c in ci.CODINGS])
def test_coding_is_served_right(served, written, name):
    server, ids = served
    w, (slide, frame_series) = written[name], ids[name]
    png = {"Accept": "image/png"}

    status, headers, body = server.get(f"/wsi/tiles/{slide}/0/1/1", png)
    got = decode_answer(status, headers, body, "tile 0/1/1")
    assert_pixels(got, tile_truth(w, 0, 1, 1), w.coding, "tile 0/1/1")
    # A browser: a stored JPEG it can show goes out as stored; anything re-encoded as lossless WebP, whose
    # pixels are the PNG's exactly (grey repeated into RGB: WebP has no grey).
    status, headers, browser = server.get(f"/wsi/tiles/{slide}/0/1/1", {"Accept": BROWSER_ACCEPT})
    assert status == 200 and headers["vary"] == "Accept"
    if headers["content-type"] == "image/jpeg":
        assert name.startswith(("1.2.4.50-", "1.2.4.51-8bit"))
    else:
        assert headers["content-type"] == "image/webp", headers
        assert np.array_equal(decode_answer(status, headers, browser, "WebP tile"), as_rgb(got))
    # Default Accept: stored JPEG may go out as it is.
    got = decode_answer(*server.get(f"/wsi/tiles/{slide}/1/0/0"), "tile 1/0/0")
    assert_pixels(got, tile_truth(w, 1, 0, 0), w.coding, "tile 1/0/0")

    iiif = f"/wsi/iiif/tiles/{slide}"
    got = decode_answer(*server.get(f"{iiif}/256,0,256,256/max/0/default.png"), "IIIF region")
    assert_pixels(got, tile_truth(w, 0, 1, 0), w.coding, "IIIF region 256,0,256,256")
    got = decode_answer(*server.get(f"{iiif}/full/256,/0/default.png"), "IIIF full")
    assert_pixels(got, tile_truth(w, 1, 0, 0), w.coding, "IIIF full/256,")

    small = np.ascontiguousarray(w.picture[::2, ::2])
    expected = ci.expected_display(w.coding, ci.stored_samples(w.coding, small))
    got = decode_answer(*server.get(f"/wsi/iiif/frames/{frame_series}/0/full/max/0/default.png"), "IIIF frame")
    # The window is applied in float32 by the plugin, in float64 here: one level of rounding allowed.
    frame_coding = w.coding if w.coding.max_error is None else ci.Coding(
        w.coding.syntax, w.coding.bits_stored, w.coding.photometric, max_error=max(1, w.coding.max_error))
    assert_pixels(got, expected, frame_coding, "IIIF frame full/max")


# ---- the root cause ------------------------------------------------------------------------------------

# What the wheels may take from the system: what they were built against (zlib is not bundled).
SYSTEM_LIBRARIES = re.compile(r"(^Orthanc$|/(libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|libz)\.so|"
                              r"/ld-linux|/libpython3)")
BINDING = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: \w+ symbol `([^']+)'")


def test_wheel_libraries_bind_to_their_own(tmp_path, monkeypatch):
    """The segfault's root cause, for every library of the virtualenv: inside Orthanc (orthanc-gdcm loaded
    too), none binds a symbol to DCMTK's IJG, Debian's libjpeg/libtiff/libzstd... (wsi/native.py)."""
    if not Path(GDCM_PLUGIN).exists() or shutil.which("Orthanc") is None:
        pytest.skip("Orthanc and orthanc-gdcm are needed")
    monkeypatch.setenv("LD_DEBUG", "bindings")
    monkeypatch.setenv("LD_DEBUG_OUTPUT", str(tmp_path / "ld"))
    server = start_orthanc(tmp_path / "orthanc", with_gdcm=True)
    server.start()  # the plugin imports numpy, imagecodecs' codecs and Pillow at start-up
    monkeypatch.undo()
    try:
        assert server.get("/system")[0] == 200
    finally:
        server.stop()
    wheel, foreign = 0, []
    for trace in tmp_path.glob("ld.*"):
        with trace.open(errors="replace") as lines:
            for match in filter(None, map(BINDING.search, lines)):
                source, target, symbol = match.groups()
                if "/site-packages/" not in source:
                    continue
                wheel += 1
                if "/site-packages/" not in target and not SYSTEM_LIBRARIES.search(target):
                    foreign.append(f"{source.rsplit('/', 1)[-1]} -> {target} {symbol}")
    assert wheel > 1000, "no bindings traced: LD_DEBUG did not reach Orthanc?"
    assert not foreign, f"{len(foreign)} symbols bound outside the virtualenv: {sorted(set(foreign))[:20]}"


# ---- codec bugs seen in issue 7 --------------------------------------------------------------------------

RGB_JPEG = "1.2.840.10008.1.2.4.50-8bit-RGB".removeprefix("1.2.840.10008.")


def stored_frame(path: Path, index: int) -> bytes:
    ds = pydicom.dcmread(path)
    return list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))[index]


def test_rgb_jpeg_goes_out_as_stored_and_chromium_shows_it_right(served, written, playwright):
    """Baseline JPEG coded in RGB (Adobe APP14 transform 0), labelled RGB: browsers decode it as stored."""
    server, ids = served
    w, slide = written[RGB_JPEG], ids[RGB_JPEG][0]
    frame = stored_frame(w.wsi[0], 0)
    status, headers, tile = server.get(f"/wsi/tiles/{slide}/0/0/0", {"Accept": BROWSER_ACCEPT})
    assert (status, headers["content-type"]) == (200, "image/jpeg") and tile == frame
    status, headers, body = server.get(f"/wsi/iiif/tiles/{slide}/0,0,256,256/256,/0/default.jpg")
    assert (status, headers["content-type"]) == (200, "image/jpeg") and body == frame

    context = playwright.chromium.launch_persistent_context(
        str(server.directory / "chromium"), executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, "--force-color-profile=srgb"])
    try:
        page = context.new_page()
        page.goto(f"{server.url}/system")
        rgba = page.evaluate("""async (url) => {
            const image = new Image(); image.src = url; await image.decode();
            const canvas = new OffscreenCanvas(image.width, image.height);
            const context = canvas.getContext('2d'); context.drawImage(image, 0, 0);
            return Array.from(context.getImageData(0, 0, image.width, image.height).data);
        }""", f"/wsi/tiles/{slide}/0/0/0")
    finally:
        context.close()
    shown = np.asarray(rgba, np.uint8).reshape(ci.TILE, ci.TILE, 4)[:, :, :3]
    assert_pixels(shown, tile_truth(w, 0, 0, 0), w.coding, "Chromium's rendering of the stored RGB JPEG")
    ours = np.asarray(imagecodecs.jpeg8_decode(frame))
    assert np.abs(shown.astype(int) - ours).max() <= 2  # Chromium's libjpeg-turbo vs imagecodecs' IDCT


GREY_16 = "1.2.840.10008.1.2.1-16bit-MONOCHROME2".removeprefix("1.2.840.10008.")


@pytest.mark.parametrize("tail", ["full/256,/0/gray.webp", "full/max/0/default.webp", "full/max/45/gray.webp"])
def test_webp_of_grey_images(served, written, tail):
    """Grey frames and the IIIF gray quality as WebP (answered 500: WebP has no grey mode)."""
    server, ids = served
    w, (slide, frame_series) = written[GREY_16], ids[GREY_16]
    for url in (f"/wsi/iiif/frames/{frame_series}/0/{tail}", f"/wsi/iiif/tiles/{slide}/{tail}"):
        status, headers, body = server.get(url)
        assert (status, headers.get("content-type")) == (200, "image/webp"), (url, status, body[:200])
        pixels = np.asarray(imagecodecs.webp_decode(body))
        assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
        assert np.abs(pixels[..., 0].astype(int) - pixels[..., 2]).max() <= 2  # grey: R == G == B
    if tail.startswith("full/max/0"):  # the frame, windowed, within WebP q90's loss
        small = np.ascontiguousarray(w.picture[::2, ::2])
        expected = ci.expected_display(w.coding, ci.stored_samples(w.coding, small))
        body = server.get(f"/wsi/iiif/frames/{frame_series}/0/{tail}")[2]
        assert psnr(np.asarray(imagecodecs.webp_decode(body))[:, :, :3], as_rgb(expected)) > 30


def test_orthanc_alive_then_stops_cleanly(served):
    server, ids = served
    assert server.get("/system")[0] == 200
    assert len(ids) == len(ci.CODINGS)
    server.stop()
    assert server.returncode == 0, f"Orthanc exited with {server.returncode}:\n{server.log_tail()}"
