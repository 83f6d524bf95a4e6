"""wsi.frame_routes over the in-memory Orthanc: a frame is read and decoded once for its JSON, every tile of every
level and every window; its levels stay within FrameCacheSizeMB."""

from __future__ import annotations

import io
import json

import numpy as np
from fake_orthanc import EXPLICIT, FakeOrthanc
from PIL import Image
from wsi.app import build_app
from wsi.config import Settings
from wsi.frame_routes import get_frame_pyramid, get_frame_tile, get_series_frames
from wsi.http import Request
from wsi.routes import dispatch

WIDTH, HEIGHT = 1200, 700  # three levels: 1200 x 700, 600 x 350, 300 x 175


def ct_series(fake: FakeOrthanc) -> tuple[str, str, list[np.ndarray]]:
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 4096, (HEIGHT, WIDTH)).astype("<u2") for _ in range(2)]
    tags = {"0028,0010": str(HEIGHT), "0028,0011": str(WIDTH), "0028,0100": "16", "0028,0101": "12",
            "0028,0102": "11", "0028,0103": "0", "0028,0002": "1", "0028,0004": "MONOCHROME2",
            "0028,0008": "2", "0028,1052": "-1024", "0028,1053": "1", "0028,1050": "40", "0028,1051": "400",
            "0028,1055": "SOFT", "0008,0060": "CT"}
    series_id, (instance_id,) = fake.add_series([(tags, EXPLICIT, [f.tobytes() for f in frames])], "1.2.840.10008."
                                                "5.1.4.1.1.2", series_tags={"Modality": "CT"})
    fake.put_json(f"/instances/{instance_id}/tags?short&ignore-length=0028-3006", tags)
    return series_id, instance_id, frames


def call(app, handler, *groups, query=None):
    return dispatch(handler, Request("GET", "/wsi/" + "/".join(groups), groups, query or {}, {}), app)


def raw_reads(fake: FakeOrthanc) -> int:
    return sum(1 for uri in fake.calls if uri.endswith("/raw"))


def test_a_frame_is_decoded_once_for_its_json_its_tiles_and_every_window():
    fake = FakeOrthanc()
    series_id, instance_id, frames = ct_series(fake)
    app = build_app(Settings(series_check_seconds=3600), fake)
    pyramid = json.loads(call(app, get_frame_pyramid, instance_id, "1").body)
    assert pyramid["Sizes"] == [[1200, 700], [600, 350], [300, 175]] and pyramid["FrameNumber"] == 1
    assert pyramid["Window"] == {"Center": 40.0, "Width": 400.0}
    assert pyramid["Presets"][0] == {"Name": "SOFT", "Center": 40.0, "Width": 400.0}
    tiles = [(z, x, y) for z, (nx, ny) in enumerate(pyramid["TilesCount"]) for x in range(nx) for y in range(ny)]
    for window in (None, "-600,1500", "400,1800"):
        for z, x, y in tiles:
            answer = call(app, get_frame_tile, instance_id, "1", str(z), str(x), str(y),
                          query={"window": window} if window else None)
            assert answer.status == 200 and answer.content_type == "image/png", answer.body[:100]
    assert raw_reads(fake) == 1
    # The window is applied in modality units (HU): -600 +- 750 over stored - 1024.
    tile = np.asarray(Image.open(io.BytesIO(call(app, get_frame_tile, instance_id, "1", "0", "0", "0",
                                                 query={"window": "-600,1500"}).body)))
    hu = frames[1][:512, :512].astype(float) - 1024
    expected = np.clip(((hu - (-600 - 0.5)) / 1499 + 0.5) * 255, 0, 255)
    assert np.abs(tile - expected).max() <= 1.0
    listed = json.loads(call(app, get_series_frames, series_id).body)
    assert listed == {"Frames": [{"Instance": instance_id, "Frame": 0}, {"Instance": instance_id, "Frame": 1}]}


def test_levels_beyond_the_budget_are_not_kept():
    """A 1200 x 700 frame's levels take 4.5 MB as float32: with FrameCacheSizeMB 1 they are decoded for each
    request (bounded), with 8 they are kept."""
    for budget_mb, reads in ((1, 3), (8, 1)):
        fake = FakeOrthanc()
        _, instance_id, _ = ct_series(fake)
        app = build_app(Settings(series_check_seconds=3600, frame_cache_size_mb=budget_mb), fake)
        for x in range(3):
            assert call(app, get_frame_tile, instance_id, "0", "0", str(x), "0").status == 200
        assert raw_reads(fake) == reads, budget_mb
