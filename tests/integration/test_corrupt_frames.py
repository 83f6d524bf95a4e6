"""Hostile frames of every codec inside a real Orthanc (orthanc-gdcm loaded too): a seeded, bounded fuzz.

For each coding, a slide whose top row of level-0 tiles holds hostile versions of a valid frame
(tests/support/corrupt.py: cut, bit-flipped, zero-length, garbage, lying SOF/SOF55/SIZ headers, a frame
of another bit depth and photometric than the tags say); the bottom row and level 1 are clean. Each
hostile tile is asked as PNG (decoded), with a browser's Accept (stored JPEG may pass through) and through
IIIF (decoded and scaled). Every answer must be an image or a short error in our words, within
REQUEST_BUDGET_S; after each case Orthanc must answer /system and a clean tile of the same slide; at the
end its peak RSS must be under PEAK_RSS_MB and it must stop cleanly.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames

from tests.conftest import PLUGIN_SCRIPT
from tests.support import coded_images as ci
from tests.support import corrupt
from tests.support.orthanc_server import PYTHON_PLUGIN, OrthancServer, require_orthanc

pytestmark = pytest.mark.integration

GDCM_PLUGIN = "/usr/share/orthanc/plugins/libOrthancGdcm.so"
SEED = 20261203
RANDOM_MUTATIONS = 8  # per coding, on top of the named hostile frames
REQUEST_BUDGET_S = 5.0
PEAK_RSS_MB = 1024  # a 65000 x 65000 SOF decoded would take 12 GB
BROWSER_ACCEPT = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"
# Frame by frame: every encapsulated coding. Native frames are any bytes of the right length: what can
# go wrong there is pixel data shorter than the tags say, tested for the layouts that differ.
CODINGS = [c for c in ci.CODINGS if c.syntax not in (*ci.NATIVE_LE, ci.BIG_ENDIAN)]
NATIVE = [c for c in ci.CODINGS if c.syntax in (*ci.NATIVE_LE, ci.BIG_ENDIAN)
          and (c.bits_stored, c.photometric) in ((16, "MONOCHROME2"), (8, "YBR_FULL_422"), (8, "PALETTE COLOR"))]

NATIVE_NAMES = {c.name for c in NATIVE}


def can_pass_through(name: str) -> bool:
    """Codings whose clean frames go out as stored (8-bit JPEG baseline/extended, colours known)."""
    return name.startswith(("1.2.4.50-", "1.2.4.51-8bit"))


def stored_frame(path: Path, index: int) -> bytes:
    dataset = pydicom.dcmread(path)
    frame = list(generate_frames(dataset.PixelData, number_of_frames=int(dataset.NumberOfFrames)))[index]
    return frame


def foreign_frame(coding: ci.Coding, width: int) -> bytes | None:
    """A valid frame whose bit depth and samples disagree with the tags (None when the codec cannot)."""
    jpeg = coding.syntax.endswith((".4.50", ".4.51"))
    bits = 8 if coding.bits_stored > 8 else 12 if jpeg else 8 if coding.syntax.endswith(".111") else 16
    other = ci.Coding(coding.syntax, bits, "MONOCHROME2" if coding.samples == 3 else "RGB")
    try:
        return ci.encode_frame(other, ci.stored_samples(other, ci.scene(other, width, width)))
    except Exception:  # e.g. no 16-bit RGB in this encoder
        return None


def hostile_slide(out: Path, coding: ci.Coding, rng: random.Random) -> tuple[list[str], list[Path]]:
    """(variant names, files): level 0 has the variants in its top row, clean frames below."""
    clean = ci.encode_frame(coding, ci.stored_samples(coding, ci.scene(coding, ci.TILE, ci.TILE)))
    variants = corrupt.variants(clean, coding.syntax, rng, RANDOM_MUTATIONS)
    foreign = foreign_frame(coding, ci.TILE)
    if foreign is not None:
        variants["frame of another coding"] = foreign
    names = list(variants)
    if len(names) % 2:
        names.append("clean")
        variants["clean"] = clean
    picture = ci.scene(coding, ci.TILE * len(names), 2 * ci.TILE)
    bottom = [ci.encode_frame(coding, ci.stored_samples(coding, tile))
              for tile in ci.tiles_of(picture)[len(names):]]
    return names, ci.write_wsi(out, coding, picture, frames=[variants[n] for n in names] + bottom)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    require_orthanc()
    plugins = [GDCM_PLUGIN, PYTHON_PLUGIN] if Path(GDCM_PLUGIN).exists() else [PYTHON_PLUGIN]
    out = tmp_path_factory.mktemp("hostile")
    rng = random.Random(SEED)
    slides = {c.name: hostile_slide(out / c.name, c, rng) for c in CODINGS}
    for coding in NATIVE:  # the last level-0 frame cut in half: the pixel data is short
        picture = ci.scene(coding, 2 * ci.TILE, 2 * ci.TILE)
        frames = [ci.encode_frame(coding, ci.stored_samples(coding, tile)) for tile in ci.tiles_of(picture)]
        frames[-1] = frames[-1][: len(frames[-1]) // 2]
        slides[coding.name] = (["short pixel data"] * 2, ci.write_wsi(out / coding.name, coding, picture, frames))
    server = OrthancServer(PLUGIN_SCRIPT, storage_dir=out / "orthanc", extra_config={"Plugins": plugins})
    server.start()
    try:
        yield server, {name: (names, server.upload_series(paths), paths[0]) for name, (names, paths) in slides.items()}
    finally:
        server.stop()


def timed_get(server: OrthancServer, url: str, accept: str | None = None) -> tuple[int, dict, bytes]:
    start = time.monotonic()
    try:
        status, headers, body = server.get(url, {"Accept": accept} if accept else None)
    except OSError as error:  # say how Orthanc ended: -11 segfault, -6 abort, -9 killed from outside
        time.sleep(0.5)
        raise AssertionError(f"{url}: {error}; Orthanc exit status {server.poll()}:\n{server.log_tail(5)}") from None
    elapsed = time.monotonic() - start
    assert elapsed < REQUEST_BUDGET_S, f"{url}: {elapsed:.1f} s"
    return status, headers, body


def check_answer(status: int, headers: dict, body: bytes, what: str) -> str:
    """An image, or a short error message of ours; returns "image" or the status."""
    media_type = headers.get("content-type", "")
    if status == 200:
        assert media_type.startswith("image/"), what
        if media_type == "image/png":  # decoded by us: a whole tile
            assert np.asarray(imagecodecs.png_decode(body)).shape[:2] in ((256, 256), (256, 255)), what
        return "image"
    assert 400 <= status < 600 and status != 503, f"{what}: {status}"
    text = body.decode("utf-8", "replace")
    assert media_type.startswith("text/plain") and 0 < len(text) < 500, f"{what}: {status} {text[:200]!r}"
    assert "internal error" not in text and "Traceback" not in text, f"{what}: {text!r}"  # an unplanned exception
    return str(status)


@pytest.mark.parametrize("name", [c.name for c in CODINGS + NATIVE])
def test_hostile_frames_never_take_orthanc_down(hostile, name):
    server, slides = hostile
    names, series, level0 = slides[name]
    clean = f"/wsi/tiles/{series}/0/0/1"
    # Whether stored JPEG passes through is decided per frame: a good frame asked first must not let the
    # hostile ones through, and hostile frames asked first must not stop the good ones (checked after).
    if can_pass_through(name):
        assert timed_get(server, clean, BROWSER_ACCEPT)[2] == stored_frame(level0, len(names))
    outcomes: dict[str, set[str]] = {}
    for column, variant in enumerate(names):
        what = f"{name} / {variant}"
        answers = [timed_get(server, f"/wsi/tiles/{series}/0/{column}/0", "image/png"),
                   timed_get(server, f"/wsi/tiles/{series}/0/{column}/0", BROWSER_ACCEPT),
                   # Not a whole stored tile (no passthrough), at full resolution: the hostile frame decoded.
                   timed_get(server, f"/wsi/iiif/tiles/{series}/{column * ci.TILE + 1},0,{ci.TILE - 1},{ci.TILE}"
                                     "/max/0/default.png")]
        outcomes.setdefault(variant, set()).update(check_answer(*answer, what) for answer in answers)
        assert timed_get(server, "/system")[0] == 200, f"Orthanc down after {what}:\n{server.log_tail()}"
        # Another tile of the same slide: below in the same instance; for native data, where the whole
        # instance is short, on the next level.
        other = f"1/{column // 2}/0" if name in NATIVE_NAMES else f"0/{column}/1"
        status, headers, _ = server.get(f"/wsi/tiles/{series}/{other}", {"Accept": "image/png"})
        assert (status, headers.get("content-type")) == (200, "image/png"), f"clean tile after {what}: {status}"
    if can_pass_through(name):
        assert timed_get(server, clean, BROWSER_ACCEPT)[2] == stored_frame(level0, len(names))
    # Lying headers are refused before decoding, and never passed through.
    for variant in ("SOF 65000 x 65000", "SOF 4 components", "SIZ 65000 x 65000", "SIZ 16384 components",
                    "size header 65000 x 65000", "empty"):
        if variant in outcomes:
            assert outcomes[variant] == {"500"}, (variant, outcomes[variant])


def test_decoders_never_read_past_a_hostile_frame():
    """Each hostile frame at the end of a mapped page, in a child process: a read past it faults there."""
    import subprocess
    import sys

    child = subprocess.run([sys.executable, "-m", "tests.support.page_end_fuzz", str(RANDOM_MUTATIONS * 3)],
                           cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=300)
    lines = child.stdout.splitlines()
    assert child.returncode == 0 and lines and lines[-1].startswith("DONE"), (
        f"exit {child.returncode} at {lines[-1] if lines else '(no case)'}: {child.stderr[-1000:]}")


def test_orthanc_memory_bounded_and_stops_cleanly(hostile):
    server, _ = hostile
    assert server.get("/system")[0] == 200
    status = Path(f"/proc/{server.pid}/status").read_text()
    peak_mb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) >> 10
    assert peak_mb < PEAK_RSS_MB, f"Orthanc peaked at {peak_mb} MB"
    print(f"Orthanc's peak RSS over the hostile frames: {peak_mb} MB")
    server.stop()
    assert server.returncode == 0, f"Orthanc exited with {server.returncode}:\n{server.log_tail()}"
