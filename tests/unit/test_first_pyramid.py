"""What the first pyramid of a slide reads from Orthanc (issue 12 item 4): tags and database facts, no frame; the
FrameWarmer then reads each instance's frame 0 once and checks its header for the frame map. Real-Orthanc proofs:
tests/integration/test_direct_frames.py (the map) and test_derivatives.py (frame 0 read once per instance)."""

from __future__ import annotations

import logging

import imagecodecs
import numpy as np
from fake_orthanc import JPEG, FakeOrthanc, tile_frames, wsi_tags
from wsi.disk_cache import DiskCache
from wsi.prerender import Activity, FrameWarmer
from wsi.series import WSI_SOP_CLASS
from wsi.service import SlideService


def _slide(fake: FakeOrthanc, *, lossless_level1: bool = False) -> tuple[str, list[str]]:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (400, 600, 3), np.uint8)
    level1 = tile_frames(image[::2, ::2], 128, JPEG)
    if lossless_level1:  # what the tags call baseline JPEG, a browser cannot decode
        level1 = [bytes(imagecodecs.jpeg8_encode(imagecodecs.jpeg8_decode(f), lossless=True)) for f in level1]
    return fake.add_series([(wsi_tags(600, 400, 256), JPEG, tile_frames(image, 256, JPEG)),
                            (wsi_tags(300, 200, 128), JPEG, level1)], WSI_SOP_CLASS)


def test_the_pyramid_reads_no_frame_and_the_warmer_checks_each_first_frame_once(caplog) -> None:
    fake = FakeOrthanc()
    series_id, (good, bad) = _slide(fake, lossless_level1=True)
    service = SlideService(fake, 16 << 20)
    model = service.series.wsi_model(series_id)
    first = service.frame_map(model)
    assert [entry["Full"][0]["Instance"] for entry in first] == [good, bad]  # from the tags alone
    assert not [uri for uri in fake.calls if "/frames/" in uri or "/content/" in uri]

    warmer = FrameWarmer(service.frames, Activity())
    with caplog.at_level(logging.WARNING, logger="wsi.frame_source"):
        for instance in (good, bad):
            warmer._work((model, instance))  # what its thread does with each queued instance
    assert sorted(uri for uri in fake.calls if "/frames/" in uri) == sorted(
        f"/instances/{i}/frames/0/raw" for i in (good, bad))
    assert [r.getMessage() for r in caplog.records if bad in r.getMessage() and "SOF 0xC3" in r.getMessage()]
    later = service.frame_map(model)
    assert later[0] == first[0] and later[1] == {"Full": []}
    # The tile of the dropped instance still comes through /wsi/tiles, decoded.
    tile = service.frames.tile(model, 1, 0, 0)
    assert service.frames.stored_jpeg(tile) is None and service.frames.tile_rgb(tile).shape == (128, 128, 3)


def test_a_first_frame_that_passes_keeps_the_map() -> None:
    fake = FakeOrthanc()
    series_id, ids = _slide(fake)
    service = SlideService(fake, 16 << 20)
    model = service.series.wsi_model(series_id)
    first = service.frame_map(model)
    warmer = FrameWarmer(service.frames, Activity())
    for instance in ids:
        warmer._work((model, instance))
    assert service.frame_map(model) is first  # not even rebuilt


def test_the_transfer_syntax_comes_from_the_metadata_and_the_header_only_when_it_is_empty() -> None:
    fake = FakeOrthanc()
    series_id, (first, second) = _slide(fake)
    fake.paths[f"/instances/{first}/metadata/TransferSyntax"] = JPEG.encode()
    fake.paths[f"/instances/{second}/metadata/TransferSyntax"] = b""  # Orthanc 1.10 for HTJ2K and JPEG XL
    model = SlideService(fake, 16 << 20).series.wsi_model(series_id)
    assert model.transfer_syntaxes == {first: JPEG, second: JPEG}
    assert [uri for uri in fake.calls if "/header" in uri] == [f"/instances/{second}/header?short"]


def test_the_tags_are_kept_on_disk_for_the_next_process_under_each_stored_file(tmp_path) -> None:
    """Orthanc's /tags cost about 0.05 ms a frame (per-frame functional groups): a restarted Orthanc, or another
    sharing the derivative cache, builds the model from the disk; an instance stored again is read again."""
    fake = FakeOrthanc()
    series_id, (first, second) = _slide(fake)
    model = SlideService(fake, 16 << 20, disk=DiskCache(tmp_path, 64 << 20)).series.wsi_model(series_id)
    assert sorted(uri for uri in fake.calls if "/tags" in uri) == sorted(
        f"/instances/{i}/tags?short" for i in (first, second))

    fake.calls.clear()
    again = SlideService(fake, 16 << 20, disk=DiskCache(tmp_path, 64 << 20)).series.wsi_model(series_id)
    assert not [uri for uri in fake.calls if "/tags" in uri]
    assert again.pixel_tags == model.pixel_tags and again.version == model.version
    assert again.levels[1].frames.lookup((1, 1, "1", 0)) == model.levels[1].frames.lookup((1, 1, "1", 0))

    fake.store_again(series_id, second, [b"\xff\xd8" + bytes(8)] * 6)  # same id, another stored file
    fake.calls.clear()
    SlideService(fake, 16 << 20, disk=DiskCache(tmp_path, 64 << 20)).series.wsi_model(series_id)
    assert [uri for uri in fake.calls if "/tags" in uri] == [f"/instances/{second}/tags?short"]
