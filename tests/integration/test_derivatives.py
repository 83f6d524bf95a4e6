"""The derivative disk cache and background pre-rendering, in real Orthancs.

Decodes are counted from the plugin's debug log (WSI_LOG_LEVEL=DEBUG, Orthanc's log level verbose), as in
test_single_flight.py. Slides are lossless JPEG 2000: every tile must be decoded and re-encoded (PNG, or
lossless WebP for browsers).
"""

from __future__ import annotations

import http.client
import io
import json
import shutil
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from tests.conftest import PLUGIN_SCRIPT
from tests.support.orthanc_server import OrthancServer
from tests.support.source import textured_image
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
DECODED = "wsi.frame_source: decoded frame"
TAGS_READ = "wsi.series_repository: reading the tags of instance"


def slide(folder: Path, seed: int = 5, size: tuple[int, int] = (1024, 768), **uids: str) -> list[Path]:
    return write_slide(folder, textured_image(*size, seed=seed), tile_size=(256, 256), downsamples=(1, 2),
                       transfer_syntax=J2K_LOSSLESS, **uids)


def server(directory: Path, cache: Path, **options: object) -> OrthancServer:
    extra = {"StableAge": 1, "WholeSlideImaging": {"DerivativeCacheFolder": str(cache), **options}}
    return OrthancServer(PLUGIN_SCRIPT, storage_dir=directory, extra_config=extra)


def count(running: OrthancServer, text: str) -> int:
    return sum(text in line for line in running.log_path.read_text(errors="replace").splitlines())


def verbose(running: OrthancServer) -> None:
    assert running.request("PUT", "/tools/log-level", b"verbose")[0] == 200


BROWSER_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


def tile(running: OrthancServer, series: str, level: int, x: int, y: int, accept: str = "image/png",
         media_type: str = "image/png") -> bytes:
    status, headers, body = running.get(f"/wsi/tiles/{series}/{level}/{x}/{y}", {"Accept": accept})
    assert status == 200 and headers["content-type"] == media_type, (status, body[:200])
    return body


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def entries(cache: Path) -> list[Path]:
    return [p for p in (cache / "v1").glob("*/*") if not p.name.startswith(".")]


def folder_bytes(cache: Path) -> int:
    return sum(p.stat().st_size for p in (cache / "v1").glob("*/*"))


def test_cache_survives_a_restart_and_is_shared_by_two_orthancs(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSI_LOG_LEVEL", "DEBUG")
    cache, files = tmp_path / "derivatives", slide(tmp_path / "slide")
    with server(tmp_path / "a", cache) as first:
        series = first.upload_series(files)
        verbose(first)
        before = tile(first, series, 0, 1, 1)
        assert count(first, DECODED) == 1 and len(entries(cache)) == 1 + len(files)  # the tile, each one's tags
        assert count(first, TAGS_READ) == len(files)
        pyramid = first.get_json(f"/wsi/pyramids/{series}")
    # Another Orthanc over the same stored files (a copy of the storage: same FileUuids), the cache shared.
    shutil.copytree(tmp_path / "a" / "db", tmp_path / "b" / "db")
    with server(tmp_path / "a", cache) as again, server(tmp_path / "b", cache) as other:
        verbose(again)
        verbose(other)
        assert tile(again, series, 0, 1, 1) == before and tile(other, series, 0, 1, 1) == before
        assert count(again, DECODED) == 0 and count(other, DECODED) == 0  # same bytes, read from disk
        # The model too: its instances' tags (Orthanc's dearest read on a first pyramid) come from the disk.
        assert count(again, TAGS_READ) == 0 and count(other, TAGS_READ) == 0
        assert all(running.get_json(f"/wsi/pyramids/{series}") == pyramid for running in (again, other))
        # Both render the other tiles concurrently into the one folder: one decode per tile per process at most,
        # every answer the same whichever Orthanc made it.
        answers: dict[str, dict] = {"again": {}, "other": {}}

        def walk(name: str, running: OrthancServer) -> None:
            for level, (columns, rows) in enumerate(((4, 3), (2, 2))):
                for y in range(rows):
                    for x in range(columns):
                        answers[name][level, x, y] = tile(running, series, level, x, y)

        threads = [threading.Thread(target=walk, args=item) for item in (("again", again), ("other", other))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert answers["again"] == answers["other"] and len(answers["again"]) == 16
        assert count(again, DECODED) + count(other, DECODED) >= 15
        assert len(entries(cache)) == 16 + len(files)


def test_eviction_keeps_the_folder_under_its_budget(tmp_path: Path) -> None:
    cache = tmp_path / "derivatives"
    with server(tmp_path / "orthanc", cache, DerivativeCacheSizeMB=1, CacheSizeMB=1) as running:
        series = running.upload_series(slide(tmp_path / "slide", size=(2048, 1536)))
        verbose(running)
        sizes = []
        for y in range(6):
            for x in range(8):
                sizes.append(len(tile(running, series, 0, x, y)))
                assert folder_bytes(cache) <= 1 << 20
        assert sum(sizes) > 3 << 20  # the slide's PNG tiles are 3 times the budget and more
        assert "files evicted" in running.log_path.read_text()
        assert 0 < len(entries(cache)) < len(sizes)
        assert tile(running, series, 0, 0, 0)  # an evicted tile is rendered again


def test_a_series_stored_again_with_other_pixels_is_never_served_stale(tmp_path: Path) -> None:
    uids = {"study_uid": pydicom.uid.generate_uid(), "series_uid": pydicom.uid.generate_uid()}
    old, new = slide(tmp_path / "old", seed=1, **uids), slide(tmp_path / "new", seed=2, **uids)
    for old_file, new_file in zip(sorted(old), sorted(new), strict=True):  # same instance ids, other pixels
        dataset, original = pydicom.dcmread(new_file), pydicom.dcmread(old_file)
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = original.SOPInstanceUID
        dataset.save_as(new_file)
    cache = tmp_path / "derivatives"
    with server(tmp_path / "orthanc", cache) as running:
        series = running.upload_series(old)
        stale = tile(running, series, 0, 1, 1)
        for instance in running.get_json(f"/series/{series}/instances"):
            assert running.request("DELETE", f"/instances/{instance['ID']}")[0] == 200
        assert running.upload_series(new) == series
        fresh = tile(running, series, 0, 1, 1)
        assert fresh != stale
        expected = textured_image(1024, 768, seed=2)[256:512, 256:512]
        assert np.array_equal(pixels(fresh), expected)
        # The old entries (a tile, each instance's tags) are left to the LRU, never read again.
        assert len(entries(cache)) == 2 * (1 + len(old))


def wait_for(running: OrthancServer, series: str, states: tuple[str, ...], seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        progress = running.get_json(f"/wsi/pyramids/{series}")["PreRender"]
        if progress["State"] in states:
            return progress
        time.sleep(0.1)
    raise AssertionError(f"pre-render of {series} never reached {states}: {progress}")


def wait_done(running: OrthancServer, series: str, tiles: int, seconds: float = 60) -> None:
    """Until pre-render has done `tiles` tiles. Polled every 0.2 s: pre-render waits for 50 ms without requests,
    so a faster poll would hold it back for good."""
    deadline = time.monotonic() + seconds
    while running.get_json(f"/wsi/pyramids/{series}")["PreRender"]["Done"] < tiles:
        if time.monotonic() > deadline:
            raise AssertionError(f"pre-render of {series} did fewer than {tiles} tiles in {seconds} s")
        time.sleep(0.2)


def test_pre_render_runs_when_stable_shows_progress_and_fills_the_cache(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSI_LOG_LEVEL", "DEBUG")
    cache = tmp_path / "derivatives"
    with server(tmp_path / "orthanc", cache, PreRender=True, PreRenderCPUShare=1.0) as running:
        files = slide(tmp_path / "slide")
        series = running.upload_series(files)
        verbose(running)
        assert running.get_json(f"/wsi/pyramids/{series}")["PreRender"]["State"] in ("none", "queued", "running")
        done = wait_for(running, series, ("done",))
        assert done == {"State": "done", "Done": 16, "Total": 16, "Rendered": 16, "Failed": 0}
        # Each tile in both formats /wsi/tiles sends (lossless WebP to browsers, PNG to others), decoded once;
        # and each instance's tags.
        assert "pre-render of series" in running.log_path.read_text() and len(entries(cache)) == 32 + len(files)
        decodes = count(running, DECODED)
        assert decodes == 16
        image = textured_image(1024, 768, seed=5)
        for x, y in ((0, 0), (3, 2), (1, 1)):  # served from disk, the stored pixels: no decode
            expected = image[y * 256:(y + 1) * 256, x * 256:(x + 1) * 256]
            assert np.array_equal(pixels(tile(running, series, 0, x, y)), expected)
            assert np.array_equal(pixels(tile(running, series, 0, x, y, BROWSER_ACCEPT, "image/webp")), expected)
        assert tile(running, series, 1, 1, 1)
        assert count(running, DECODED) == decodes


def test_pre_render_yields_to_requests_and_stops_at_shutdown(tmp_path: Path) -> None:
    cache = tmp_path / "derivatives"
    running = server(tmp_path / "orthanc", cache, PreRender=True, PreRenderCPUShare=0.1)
    with running:
        series = running.upload_series(slide(tmp_path / "slide", size=(2048, 1536)))
        wait_for(running, series, ("running",))
        wait_done(running, series, 2)
        # Our requests back to back on one connection: the renderer waits (the tile it was on finishes).
        connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
        start = running.get_json(f"/wsi/pyramids/{series}")["PreRender"]["Done"]
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            connection.request("GET", f"/wsi/tiles/{series}/1/0/0")
            assert connection.getresponse().read()
        connection.request("GET", f"/wsi/pyramids/{series}")
        during = json.loads(connection.getresponse().read())["PreRender"]["Done"]
        connection.close()
        assert during - start <= 1, (start, during)
        time.sleep(1.5)
        after = running.get_json(f"/wsi/pyramids/{series}")["PreRender"]
        assert after["Done"] > during and after["State"] == "running", after
    assert running.returncode == 0
    log = running.log_path.read_text()
    assert f"pre-render of series {series} stopped at" in log


def test_a_killed_writer_leaves_no_partial_entry(tmp_path: Path) -> None:
    cache = tmp_path / "derivatives"
    with server(tmp_path / "orthanc", cache, PreRender=True, PreRenderCPUShare=1.0) as running:
        series = running.upload_series(slide(tmp_path / "slide", size=(2048, 1536)))
        wait_for(running, series, ("running",))
        wait_done(running, series, 5)
        running._process.kill()  # SIGKILL, mid-write or close to it
        running._process.wait()
    complete = entries(cache)
    assert complete
    for path in complete:  # each named entry is whole: magic, key, then exactly its body (PNG or WebP that decodes,
        data = path.read_bytes()  # or an instance's tags as Orthanc gave them)
        assert data.startswith(b"WSIDC1\n")
        key_length, body_length = struct.unpack_from("<IQ", data, 7)
        key, body = data[19:19 + key_length], data[19 + key_length:]
        assert len(body) == body_length
        if key.startswith(b"('model-tags',"):
            assert json.loads(body)["0008,0016"] == "1.2.840.10008.5.1.4.1.1.77.1.6"
        else:
            assert Image.open(io.BytesIO(body)).convert("RGB").size == (256, 256)
    with server(tmp_path / "orthanc", cache) as again:  # and a restarted Orthanc serves them right
        expected = textured_image(2048, 1536, seed=5)[:256, :256]
        assert np.array_equal(pixels(tile(again, series, 0, 0, 0)), expected)


@pytest.mark.parametrize("syntax", [J2K_LOSSLESS, "1.2.840.10008.1.2.4.50"])
def test_first_frames_are_read_when_the_pyramid_is_asked_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             syntax: str) -> None:
    """Frame 0 of each instance is read once, by the FrameWarmer; the pyramid request reads none, not even for
    the frame map of a JPEG slide (whose header check the warmer's read makes: test_direct_frames.py)."""
    monkeypatch.setenv("WSI_LOG_LEVEL", "DEBUG")
    files = write_slide(tmp_path / "slide", textured_image(1024, 768, seed=5), downsamples=(1, 2),
                        transfer_syntax=syntax)
    for warm, expected in ((True, len(files)), (False, 0)):
        with server(tmp_path / f"orthanc-{warm}", tmp_path / "derivatives", WarmFirstFrames=warm) as running:
            series = running.upload_series(files)
            verbose(running)
            assert running.get(f"/wsi/pyramids/{series}")[0] == 200
            deadline = time.monotonic() + 10
            while count(running, "reading frame 0 of instance") < expected and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
            assert count(running, "reading frame 0 of instance") == expected  # each instance once, before any tile
            assert running.get(f"/wsi/pyramids/{series}")[0] == 200
            time.sleep(0.3)
            assert count(running, "reading frame 0 of instance") == expected  # not again for the same versions
