#!/usr/bin/env python3
"""Soak: many clients for minutes of mixed tiles, IIIF regions and JSON on 3 slides against a real Orthanc.

    .venv/bin/python scripts/soak.py                           # 64 clients x 10 minutes
    .venv/bin/python scripts/soak.py --clients 16 --minutes 2  # shorter

Starts its own Orthanc with the plugin on 127.0.0.1 (a free port, temporary storage; tests/support's
OrthancServer), writes three slides with our test writer (JPEG; lossless JPEG 2000, decoded for every tile;
TILED_SPARSE JPEG with two focal planes) and uploads them. Each client keeps one keep-alive connection and
sends a seeded random mix: tiles of any level (some asking PNG), IIIF tiles as viewers ask them, random IIIF
regions (jpg, png, webp, some gray), and JSON (pyramids, info.json, manifests). Every --interval seconds it
prints throughput, latency p50/p99, errors, and the Orthanc process's RSS and CPU; at the end a summary.
It stops by itself after --minutes and stops its Orthanc. Exit status 1 when any request failed.

Orthanc 1.10 gives each keep-alive connection an HTTP thread for as long as it stays open: the Orthanc here
gets HttpThreadsCount = clients + 16, else the clients past 50 would wait for a free thread.
"""

from __future__ import annotations

import argparse
import http.client
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.orthanc_server import OrthancServer  # noqa: E402
from tests.support.source import textured_image  # noqa: E402
from tests.support.writer import write_slide  # noqa: E402

PLUGIN_SCRIPT = ROOT / "plugin" / "wsi_plugin.py"
TIMEOUT_S = 60
KEEP_ALIVE_RACES = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
PAGE = 4096  # bytes read per call: a body's size is counted without keeping it


# ---- slides ------------------------------------------------------------------------------------------------

def write_slides(folder: Path) -> dict[str, list[Path]]:
    return {
        "jpeg 4096x3072": write_slide(folder / "jpeg", textured_image(4096, 3072, seed=1),
                                      downsamples=(1, 2, 4, 8, 16), associated=("LABEL", "THUMBNAIL")),
        "jpeg2000 2048x1536": write_slide(folder / "j2k", textured_image(2048, 1536, seed=2),
                                          downsamples=(1, 2, 4, 8), transfer_syntax="1.2.840.10008.1.2.4.90"),
        "sparse 3000x2000 z2": write_slide(folder / "sparse", textured_image(3000, 2000, seed=3),
                                           downsamples=(1, 3, 9), organization="TILED_SPARSE",
                                           focal_planes=(0.0, 2.0), holes={(0, 1, 1), (0, 5, 3)}),
    }


@dataclass(frozen=True)
class Slide:
    series: str
    sizes: list[tuple[int, int]]  # per level
    tiles: list[tuple[int, int]]  # tiles per level
    tile_size: tuple[int, int]  # finest level's


def describe(server: OrthancServer, series: str) -> Slide:
    pyramid = server.get_json(f"/wsi/pyramids/{series}")
    return Slide(series, [tuple(s) for s in pyramid["Sizes"]], [tuple(t) for t in pyramid["TilesCount"]],
                 (pyramid["TileWidth"], pyramid["TileHeight"]))


# ---- the mix -----------------------------------------------------------------------------------------------

def tile_request(rng: random.Random, slide: Slide) -> tuple[str, dict[str, str]]:
    level = rng.randrange(len(slide.sizes))
    x, y = rng.randrange(slide.tiles[level][0]), rng.randrange(slide.tiles[level][1])
    headers = {"Accept": "image/png"} if rng.random() < 0.1 else {}
    return f"/wsi/tiles/{slide.series}/{level}/{x}/{y}", headers


def iiif_tile_request(rng: random.Random, slide: Slide) -> str:
    """A tile as OpenSeadragon or Mirador asks it: an aligned region at a power-of-two scale factor."""
    width, height = slide.sizes[0]
    factor = 2 ** rng.randrange(len(slide.sizes))
    side = slide.tile_size[0] * factor
    x, y = rng.randrange(0, width, side), rng.randrange(0, height, side)
    w, h = min(side, width - x), min(side, height - y)
    return f"/wsi/iiif/tiles/{slide.series}/{x},{y},{w},{h}/{max(1, -(-w // factor))},/0/default.jpg"


def iiif_region_request(rng: random.Random, slide: Slide) -> str:
    width, height = slide.sizes[0]
    w, h = rng.randint(16, min(width, 3000)), rng.randint(16, min(height, 3000))
    x, y = rng.randrange(width - w + 1), rng.randrange(height - h + 1)
    # Never larger than the region (upscaling needs "^" in IIIF 3.0), never scaled below 1 px (both 400).
    target = min(w, max(rng.randint(16, 512), -(-w // h)))
    size = rng.choice(["max", f"{target},", f"!{target},{min(h, rng.randint(16, 512))}"])
    if size == "max" and w * h > 512 * 512:
        size = f"{min(w, 512)},"
    quality, fmt = rng.choice(["default"] * 6 + ["gray"]), rng.choice(["jpg"] * 5 + ["png"] * 3 + ["webp"])
    rotation = rng.choice(["0"] * 8 + ["90", "!0"])
    return f"/wsi/iiif/tiles/{slide.series}/{x},{y},{w},{h}/{size}/{rotation}/{quality}.{fmt}"


def json_request(rng: random.Random, slide: Slide) -> str:
    return rng.choice([f"/wsi/pyramids/{slide.series}", f"/wsi/iiif/tiles/{slide.series}/info.json",
                       f"/wsi/iiif/series/{slide.series}/manifest.json"])


def next_request(rng: random.Random, slides: list[Slide]) -> tuple[str, str, dict[str, str]]:
    """(kind, path, headers): 55 % tiles, 20 % IIIF viewer tiles, 15 % IIIF regions, 10 % JSON."""
    slide, draw = rng.choice(slides), rng.random()
    if draw < 0.55:
        return ("tile", *tile_request(rng, slide))
    if draw < 0.75:
        return "iiif tile", iiif_tile_request(rng, slide), {}
    if draw < 0.90:
        return "iiif region", iiif_region_request(rng, slide), {}
    return "json", json_request(rng, slide), {}


# ---- clients and measurements ------------------------------------------------------------------------------

@dataclass
class Window:
    """What the clients saw since the last report."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    bytes: int = 0
    failures: list[str] = field(default_factory=list)  # a few examples
    retries: int = 0  # requests sent again on a fresh connection after a keep-alive close (not errors)


class Soak:
    def __init__(self, server: OrthancServer, slides: list[Slide], clients: int, deadline: float) -> None:
        self.server, self.slides, self.deadline = server, slides, deadline
        self.window, self.total = Window(), Window()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(n,), daemon=True) for n in range(clients)]

    def record(self, kind: str, path: str, status: int, size: int, latency_ms: float) -> None:
        with self.lock:
            for window in (self.window, self.total):
                window.latencies_ms.append(latency_ms)
                window.statuses[status] += 1
                window.bytes += size
                if status != 200 and (len(window.failures) < 10 or status not in (400, 404, 503)):
                    window.failures.append(f"{status} {kind} {path}")

    def take_window(self) -> Window:
        with self.lock:
            window, self.window = self.window, Window()
        return window

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=TIMEOUT_S)
        reused = False
        while time.monotonic() < self.deadline:
            kind, path, headers = next_request(rng, self.slides)
            started = time.monotonic()
            for attempt in (1, 2):
                try:
                    connection.request("GET", path, headers=headers)
                    response = connection.getresponse()
                    size = 0
                    while chunk := response.read(PAGE * 16):
                        size += len(chunk)
                    status, reused = response.status, True
                    break
                except (OSError, http.client.HTTPException) as error:
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=TIMEOUT_S)
                    # Orthanc closes a keep-alive connection idle for 1 s (a starved client thread can idle that
                    # long): a request sent as it closes finds the connection gone. Browsers retry such a
                    # request once on a fresh connection; so do we, and count it apart from errors.
                    if attempt == 1 and reused and isinstance(error, KEEP_ALIVE_RACES):
                        reused = False
                        with self.lock:
                            self.window.retries += 1
                            self.total.retries += 1
                        continue
                    status, size, reused = -1, 0, False  # no HTTP answer on a fresh connection, or a timeout
                    kind = f"{kind} ({type(error).__name__})"
                    break
            self.record(kind, path, status, size, (time.monotonic() - started) * 1000)
        connection.close()


def process_stats(pid: int) -> tuple[float, float]:
    """(RSS in MB, CPU seconds used so far) of a process, from /proc."""
    rss_kb = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return rss_kb / 1024, ticks / 100.0


def trend(times: list[float], rss_mb: list[float]) -> str:
    """RSS over the second half of the run, after the caches have filled: its range and least-squares slope."""
    half = [(t, r) for t, r in zip(times, rss_mb, strict=True) if t >= times[-1] / 2]
    if len(half) < 3:
        return "soak: too few reports for an RSS trend"
    ts, rs = zip(*half, strict=True)
    slope_mb_per_min = float(np.polyfit(ts, rs, 1)[0]) * 60
    return (f"soak: RSS over the second half ({ts[0]:.0f}-{ts[-1]:.0f} s, {len(rs)} reports): min {min(rs):.1f}, "
            f"max {max(rs):.1f} MB, trend {slope_mb_per_min:+.1f} MB/min (least squares)")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def errors(window: Window) -> int:
    """Failed requests: no answer, 5xx other than 503 (busy, by design), or any 4xx (the mix asks only valid
    requests)."""
    return sum(count for status, count in window.statuses.items() if status != 200 and status != 503)


def line(elapsed: float, seconds: float, window: Window, rss_mb: float, cpu_percent: float) -> str:
    count = len(window.latencies_ms)
    statuses = ", ".join(f"{s}: {c}" for s, c in sorted(window.statuses.items()))
    return (f"{elapsed:6.0f} s  {count / seconds:7.1f} req/s  {window.bytes / seconds / 1e6:6.1f} MB/s  "
            f"p50 {percentile(window.latencies_ms, 50):7.1f} ms  p99 {percentile(window.latencies_ms, 99):7.1f} ms  "
            f"errors {errors(window):4d}  503 {window.statuses.get(503, 0):4d}  RSS {rss_mb:7.1f} MB  "
            f"Orthanc CPU {cpu_percent:4.0f} %  retried {window.retries}  [{statuses}]")


def run(clients: int, minutes: float, interval: float, cache_mb: int | None) -> int:
    with tempfile.TemporaryDirectory(prefix="wsi-soak-") as work:
        print(f"soak: writing 3 slides in {work}", flush=True)
        return soak_slides(write_slides(Path(work) / "slides"), clients, minutes, interval, cache_mb)


def soak_slides(files: dict[str, list[Path]], clients: int, minutes: float, interval: float,
                cache_mb: int | None) -> int:
    plugin = {"EnableIIIF": True, **({"CacheSizeMB": cache_mb} if cache_mb is not None else {})}
    config = {"HttpThreadsCount": clients + 16, "WholeSlideImaging": plugin}
    with OrthancServer(PLUGIN_SCRIPT, extra_config=config) as server:
        slides = [describe(server, server.upload_series(paths)) for paths in files.values()]
        pid = server._process.pid  # the Orthanc this script started
        baseline_mb, cpu = process_stats(pid)
        print(f"soak: Orthanc {server.url} (pid {pid}), {len(slides)} slides "
              f"({', '.join(files)}), RSS {baseline_mb:.1f} MB after upload", flush=True)
        cache = f"CacheSizeMB {cache_mb}" if cache_mb is not None else "CacheSizeMB at its default"
        print(f"soak: {clients} clients x {minutes:g} min, {cache}; a line every {interval:g} s", flush=True)
        start = time.monotonic()
        soak = Soak(server, slides, clients, start + minutes * 60)
        for thread in soak.threads:
            thread.start()
        rss_series, times, last, next_report = [], [], start, start + interval
        while last < soak.deadline:
            until = min(next_report, soak.deadline)
            time.sleep(max(0.0, until - time.monotonic()))
            now = time.monotonic()
            window = soak.take_window()
            rss_mb, cpu_now = process_stats(pid)
            rss_series.append(rss_mb)
            times.append(now - start)
            print(line(now - start, now - last, window, rss_mb, 100 * (cpu_now - cpu) / (now - last)), flush=True)
            for failure in sorted(window.failures, key=lambda f: not f.startswith(("5", "-")))[:3]:
                print(f"        e.g. {failure}", flush=True)
            last, cpu, next_report = now, cpu_now, next_report + interval
        for thread in soak.threads:  # the requests in flight at the end
            thread.join(timeout=TIMEOUT_S)
        drain = soak.take_window()
        print(f"soak: {len(drain.latencies_ms)} requests in flight at the end: p99 "
              f"{percentile(drain.latencies_ms, 99):.1f} ms, errors {errors(drain)}", flush=True)
        alive = server.get("/system")[0] == 200
        total, elapsed = soak.total, time.monotonic() - start
        print(f"\nsoak: total {line(elapsed, elapsed, total, rss_series[-1], 0).split('RSS')[0].strip()}")
        print(f"soak: RSS baseline {baseline_mb:.1f} MB; during the run min {min(rss_series):.1f}, max "
              f"{max(rss_series):.1f}, last {rss_series[-1]:.1f} MB; last minus first report "
              f"{rss_series[-1] - rss_series[0]:+.1f} MB", flush=True)
        print(trend(times, rss_series), flush=True)
        print(f"soak: statuses {dict(sorted(total.statuses.items()))}; Orthanc still answering: {alive}")
    return 0 if errors(total) == 0 and alive else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between reports")
    parser.add_argument("--cache-mb", type=int, help="WholeSlideImaging.CacheSizeMB (default: the plugin's)")
    args = parser.parse_args()
    if not (1 <= args.clients <= 512 and 0 < args.minutes <= 120 and 1 <= args.interval <= 600):
        parser.error("--clients 1..512, --minutes up to 120, --interval 1..600 seconds")
    return run(args.clients, args.minutes, args.interval, args.cache_mb)


if __name__ == "__main__":
    sys.exit(main())
