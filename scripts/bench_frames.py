#!/usr/bin/env python3
"""First-tile and next-tile latency of on-the-fly frame pyramids: ours against the C++ WSI plugin 3.2.

    .venv/bin/python scripts/bench_frames.py [--tiles N]

Makes a 4000 x 5000 16-bit mammogram (rescaled, windowed, explicit little endian, 40 MB) and an 8000 x 6000 RGB
photograph (baseline JPEG, YBR_FULL_422) with pydicom, then starts one Orthanc at a time on 127.0.0.1 (never two
at once: they would share the cores): ours on the host (Debian 12: Orthanc 1.10.1, orthanc-python 4.0), ours in
the Debian 13 root of tests/support/debian13.py (Orthanc 1.12.7, orthanc-python 5.0, AllowThreads on) and the
C++ plugin 3.2 there. For each image, one client, keep-alive, in a freshly started Orthanc:

- pyramid: `GET /wsi/frames-pyramids/{instance}/0` first (ours decodes the frame and builds its levels here);
- first tile: the coarsest level's tile right after (what a viewer asks first);
- next tiles: N further tiles, a random walk of pan and zoom over every level (median and p90);
- window: N tiles of level 0 again with `?window=C,W` (ours only: grey frames, every tile new).

Prints a markdown table (milliseconds). Standard library, numpy, Pillow and pydicom (tests' dependencies).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, generate_uid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.orthanc_server import OrthancServer  # noqa: E402
from tests.support.radiology import radiograph  # noqa: E402


def mammogram(width: int = 4000, height: int = 5000) -> bytes:
    x = np.arange(width, dtype=np.uint32)[None, :]
    y = np.arange(height, dtype=np.uint32)[:, None]
    stored = ((x * 7 + y * 5) % 50000 + (x * y) % 997).astype(np.uint16)
    return radiograph(stored, series=generate_uid(), study=generate_uid(), modality="MG", slope=0.5,
                      windows=((12000.0, 20000.0, "DEFAULT"),))


def photograph(width: int = 8000, height: int = 6000) -> bytes:
    x = np.arange(width, dtype=np.uint32)[None, :]
    y = np.arange(height, dtype=np.uint32)[:, None]
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = (x // 4 + y // 8) % 256
    rgb[..., 1] = (x // 16 * 3 + y // 5) % 256
    rgb[..., 2] = ((x ^ y) // 7) % 256
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.4"  # VL Photographic Image
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = generate_uid(), generate_uid(), 1
    ds.PatientID, ds.Modality = "BENCH", "XC"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = height, width, 3, "YBR_FULL_422"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation, ds.PlanarConfiguration = 8, 8, 7, 0, 0
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].is_undefined_length = True
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


class Client:
    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)

    def get(self, path: str) -> tuple[float, int, bytes]:
        started = time.perf_counter()
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        return (time.perf_counter() - started) * 1000, response.status, body

    def post(self, path: str, body: bytes) -> dict:
        self.connection.request("POST", path, body, {"Content-Type": "application/dicom"})
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {path}: {response.status} {answer[:200]!r}")
        return json.loads(answer)


def walk(pyramid: dict, count: int, seed: int) -> list[tuple[int, int, int]]:
    """A viewer's random walk: zoom in and out one level, pan to a neighbouring tile, never the same tile twice."""
    rng = random.Random(seed)
    levels = len(pyramid["TilesCount"])
    z, x, y = levels - 1, 0, 0
    seen = {(z, x, y)}
    out: list[tuple[int, int, int]] = []
    while len(out) < count and len(seen) < sum(nx * ny for nx, ny in pyramid["TilesCount"]):
        move = rng.choice(("in", "out", "pan", "pan", "pan"))
        if move == "in" and z > 0:
            z, x, y = z - 1, 2 * x + rng.randint(0, 1), 2 * y + rng.randint(0, 1)
        elif move == "out" and z < levels - 1:
            z, x, y = z + 1, x // 2, y // 2
        else:
            x, y = x + rng.randint(-1, 1), y + rng.randint(-1, 1)
        nx, ny = pyramid["TilesCount"][z]
        x, y = min(max(x, 0), nx - 1), min(max(y, 0), ny - 1)
        if (z, x, y) not in seen:
            seen.add((z, x, y))
            out.append((z, x, y))
    return out


@contextmanager
def server(kind: str, storage: Path) -> Iterator[OrthancServer]:
    script = ROOT / "plugin" / "wsi_plugin.py"
    root = None
    if kind != "ours-host":
        from tests.support.debian13 import ensure_root

        root = ensure_root(print).with_config({"Python": {"AllowThreads": True}})
    with OrthancServer(None if kind == "cpp-debian13" else script, load_cpp_wsi=kind == "cpp-debian13",
                       storage_dir=storage, root=root) as running:
        yield running


def measure(kind: str, images: dict[str, bytes], tiles: int, storage: Path) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    with server(kind, storage) as running:
        client = Client(running.port)
        ids = {name: client.post("/instances", data)["ID"] for name, data in images.items()}
    # A fresh process for the measures: nothing of the upload is cached.
    with server(kind, storage) as running:
        client = Client(running.port)
        for name, instance in ids.items():
            pyramid_ms, status, body = client.get(f"/wsi/frames-pyramids/{instance}/0")
            if status != 200:
                raise RuntimeError(f"{kind} {name}: pyramid {status} {body[:200]!r}")
            pyramid = json.loads(body)
            coarsest = len(pyramid["TilesCount"]) - 1
            first_ms, status, _ = client.get(f"/wsi/frames-tiles/{instance}/0/{coarsest}/0/0")
            times = []
            for z, x, y in walk(pyramid, tiles, seed=7):
                ms, status, body = client.get(f"/wsi/frames-tiles/{instance}/0/{z}/{x}/{y}")
                if status != 200:
                    raise RuntimeError(f"{kind} {name}: tile {z}/{x}/{y} {status} {body[:200]!r}")
                times.append(ms)
            row = {"pyramid": pyramid_ms, "first": first_ms, "next_p50": statistics.median(times),
                   "next_p90": statistics.quantiles(times, n=10)[-1]}
            if kind != "cpp-debian13" and pyramid.get("Grey"):
                windowed = [client.get(f"/wsi/frames-tiles/{instance}/0/{z}/{x}/{y}?window=9000,{4000 + i}")[0]
                            for i, (z, x, y) in enumerate(walk(pyramid, tiles, seed=8))]
                row["window_p50"] = statistics.median(windowed)
            results[name] = row
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=40, help="next tiles per image (default 40)")
    parser.add_argument("--servers", default="ours-host,ours-debian13,cpp-debian13")
    args = parser.parse_args()
    images = {"mammogram 4000x5000 16-bit": mammogram(), "photograph 8000x6000 RGB JPEG": photograph()}
    import tempfile

    table = {}
    for kind in args.servers.split(","):
        with tempfile.TemporaryDirectory(prefix=f"bench-frames-{kind}-") as folder:
            table[kind] = measure(kind, images, args.tiles, Path(folder))
            print(f"{kind}: {json.dumps(table[kind])}", flush=True)
    print("\n| image | server | pyramid JSON (first) | first tile | next tiles p50 | next tiles p90 | "
          "windowed tiles p50 |\n|---|---|---|---|---|---|---|")
    for name in images:
        for kind, rows in table.items():
            r = rows[name]
            window = f"{r['window_p50']:.1f}" if "window_p50" in r else "-"
            print(f"| {name} | {kind} | {r['pyramid']:.0f} | {r['first']:.1f} | {r['next_p50']:.1f} | "
                  f"{r['next_p90']:.1f} | {window} |")


if __name__ == "__main__":
    main()
