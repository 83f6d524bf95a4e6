"""Micro-benchmark of the warm tile fast path (tiles.cached_tile) in plain Python, on the unit tests' fake.

    .venv/bin/python scripts/bench_fast_path.py [checkout]   (default: this one)

What a repeated tile request costs in our Python before Orthanc answers it (docs/benchmark.md measures the rest).
"""
import sys
import timeit
from pathlib import Path

root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
sys.path[:0] = [str(root / "plugin"), str(root / "tests" / "unit")]
import numpy as np  # noqa: E402
from fake_orthanc import JPEG, FakeOrthanc, tile_frames, wsi_tags  # noqa: E402
from wsi.app import build_app  # noqa: E402
from wsi.config import Settings  # noqa: E402
from wsi.http import Request  # noqa: E402
from wsi.routes import dispatch  # noqa: E402
from wsi.series import WSI_SOP_CLASS  # noqa: E402
from wsi.tiles import cached_tile, get_tile  # noqa: E402

fake = FakeOrthanc()
image = np.zeros((512, 512, 3), np.uint8)
series_id, _ = fake.add_series([(wsi_tags(512, 512, 256), JPEG, tile_frames(image, 256, JPEG))], WSI_SOP_CLASS)
app = build_app(Settings(cache_size_mb=16, series_check_seconds=3600), fake)
path = f"/wsi/tiles/{series_id}/0/1/1"
dispatch(get_tile, Request("GET", path, (series_id, "0", "1", "1"), {}, {"accept": "image/jpeg"}), app)
raw = {"method": "GET", "headers": {"accept": "image/jpeg"}, "get": {}}
assert cached_tile(app, path, raw) is not None
n = 200_000
best = min(timeit.repeat(lambda: cached_tile(app, path, raw), number=n, repeat=7))
print(f"cached_tile: {best / n * 1e6:.2f} us per call")
