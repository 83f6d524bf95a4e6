#!/usr/bin/env python3
"""Throughput of the scale-out cluster through nginx with 1, 2 and 3 replicas, beside one Orthanc on SQLite.

    .venv/bin/python scripts/bench_cluster.py [--quick] [--replicas 1,2,3] [--duration S] [--concurrency N]

Writes (once per run, in a temporary folder) an 8192x6144 tissue-like slide with our writer (JPEG, 256 px
tiles, 3 levels), then for each configuration in turn (never two at once: they would share the cores) starts
it (tests/support/cluster.py: PostgreSQL of its own, N Orthancs with orthanc-postgresql and our plugin, nginx
round robin with upstream keep-alive; or one Orthanc on SQLite, asked directly), uploads the slide, and drives
it with `wrk` (keep-alive; scripts/benchmark.py's request script):

- cold tiles: every tile of every level once, in random order, the first time anyone asks for them;
- warm tiles: a hot set of level-0 tiles repeated for the duration;
- IIIF regions: distinct 512x512 regions scaled to 256 px (PNG), each once: decode, resample, encode.

Prints one markdown table: requests/s, p50/p99, the scaling factor against 1 replica and against SQLite, and
CPU per request split by component (Orthancs, PostgreSQL, nginx) from /proc (each process tree's user + system
time), which says what a machine with more cores would do (docs/scaleout.md). Everything started is stopped
at the end, on failure too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from benchmark import run_wrk, tissue_image  # noqa: E402  (scripts/ is not a package)

from tests.support.cluster import Cluster, missing_packages  # noqa: E402
from tests.support.orthanc_server import OrthancServer  # noqa: E402
from tests.support.writer import write_slide  # noqa: E402

PLUGIN = ROOT / "plugin" / "wsi_plugin.py"
TICKS = os.sysconf("SC_CLK_TCK")
WIDTH, HEIGHT, TILE = 8192, 6144, 256
# Each replica gets the same plugin cache as the single Orthanc: replicas add memory, not share it.
PLUGIN_CONFIG = {"CacheSizeMB": 256}


@dataclass
class Target:
    """Where wrk sends requests, and the processes whose CPU time counts, by component."""

    port: int
    processes: dict[str, list[int]]


@dataclass
class Row:
    config: str
    scenario: str
    per_s: float
    p50_ms: float
    p99_ms: float
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per request, by component
    note: str = ""


# ---- CPU time from /proc ----------------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def tree_cpu_seconds(pids: list[int]) -> float:
    """User + system time of these processes and all their descendants (reaped children included)."""
    tree, total, todo = _children(), 0.0, list(pids)
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15]) / TICKS  # utime, stime, cutime, cstime
        todo += tree.get(pid, [])
    return total


# ---- load -------------------------------------------------------------------------------------------------
class _Port:
    def __init__(self, port: int) -> None:
        self.port = port


def measure(target: Target, config: str, scenario: str, paths: list[str], concurrency: int, seconds: int,
            mode: str, workdir: Path) -> Row:
    before = {name: tree_cpu_seconds(pids) for name, pids in target.processes.items()}
    result = run_wrk(_Port(target.port), paths, concurrency, seconds, mode, {}, workdir)
    requests = max(1, result["requests"])
    elapsed = result["walk_s"] if mode == "once" and result["walk_s"] > 0 else result["duration_us"] / 1e6
    cpu = {name: (tree_cpu_seconds(pids) - before[name]) * 1000 / requests
           for name, pids in target.processes.items()}
    row = Row(config, scenario, requests / elapsed, result["p50_us"] / 1000, result["p99_us"] / 1000, cpu)
    if result["status_errors"] or (mode == "once" and result["requests"] < len(paths)):
        row.note = f"{result['status_errors']} HTTP errors, {result['requests']}/{len(paths)} answered"
    print(f"{config:>16} {scenario:>12}: {row.per_s:8.0f}/s  p50 {row.p50_ms:7.2f} ms  p99 {row.p99_ms:7.2f} ms  "
          f"CPU ms/request {' '.join(f'{k} {v:.2f}' for k, v in cpu.items())} {row.note}", file=sys.stderr)
    return row


def tile_paths(series: str, pyramid: dict) -> list[str]:
    paths = [f"/wsi/tiles/{series}/{z}/{x}/{y}" for z, (tx, ty) in enumerate(pyramid["TilesCount"])
             for y in range(ty) for x in range(tx)]
    random.Random(1).shuffle(paths)
    return paths


def region_paths(series: str, count: int) -> list[str]:
    rng = random.Random(2)
    return [f"/wsi/iiif/tiles/{series}/{rng.randrange(0, WIDTH - 512)},{rng.randrange(0, HEIGHT - 512)},512,512/"
            f"256,/0/default.png" for _ in range(count)]


def run_config(config: str, target: Target, series: str, pyramid: dict, args: argparse.Namespace,
               workdir: Path) -> list[Row]:
    tiles = tile_paths(series, pyramid)
    hot = [p for p in tiles if f"/{series}/0/" in p][:64]
    rows = [measure(target, config, "cold tiles", tiles, args.concurrency, 120, "once", workdir),
            measure(target, config, "warm tiles", hot, args.concurrency, args.duration, "loop", workdir),
            measure(target, config, "IIIF regions", region_paths(series, args.regions), args.concurrency, 120, "once",
                    workdir)]
    return rows


def prime(get, series: str, times: int) -> dict:
    """The series model read by every replica (round robin), so cold tiles measure tiles, not the model."""
    pyramid = {}
    for _ in range(times):
        status, _, body = get(f"/wsi/pyramids/{series}")
        if status != 200:
            raise RuntimeError(f"pyramid: HTTP {status} {body[:200]!r}")
        pyramid = json.loads(body)
    return pyramid


def bench_sqlite(files: list[Path], args: argparse.Namespace, workdir: Path) -> list[Row]:
    with OrthancServer(PLUGIN, storage_dir=workdir / "sqlite",
                       extra_config={"WholeSlideImaging": PLUGIN_CONFIG}) as server:
        series = server.upload_series(files)
        pyramid = prime(server.get, series, 1)
        return run_config("1 Orthanc, SQLite", Target(server.port, {"orthanc": [server.pid]}), series, pyramid,
                          args, workdir)


def bench_cluster(replicas: int, files: list[Path], args: argparse.Namespace, workdir: Path) -> list[Row]:
    with Cluster(PLUGIN, workdir / f"cluster-{replicas}", replicas=replicas, plugin_config=PLUGIN_CONFIG,
                 nginx_workers=1) as cluster:
        series = cluster.replicas[0].upload_series(files)
        pyramid = prime(cluster.nginx.get, series, 2 * replicas)
        target = Target(cluster.nginx.port, {"orthanc": [r.pid for r in cluster.replicas],
                                             "postgresql": [cluster.postgresql.pid],
                                             "nginx": [cluster.nginx.pid]})
        label = f"{replicas} replica{'s' if replicas > 1 else ''}, nginx"
        return run_config(label, target, series, pyramid, args, workdir)


def table(rows: list[Row], cores: int) -> str:
    scenarios = list(dict.fromkeys(r.scenario for r in rows))
    out = [f"| configuration ({cores} cores) | scenario | requests/s | x 1 replica | x SQLite | p50 ms | p99 ms | "
           "CPU ms/request: Orthanc | PostgreSQL | nginx | total | note |", "|---" * 12 + "|"]
    for scenario in scenarios:
        group = [r for r in rows if r.scenario == scenario]
        sqlite = next((r.per_s for r in group if "SQLite" in r.config), None)
        single = next((r.per_s for r in group if r.config.startswith("1 replica")), None)
        for r in group:
            parts = [r.cpu_ms.get(k) for k in ("orthanc", "postgresql", "nginx")]
            cells = ["-" if v is None else f"{v:.2f}" for v in parts]
            out.append(f"| {r.config} | {scenario} | {r.per_s:.0f} | "
                       f"{'-' if not single else f'{r.per_s / single:.2f}'} | "
                       f"{'-' if not sqlite else f'{r.per_s / sqlite:.2f}'} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
                       f"{' | '.join(cells)} | {sum(v for v in parts if v is not None):.2f} | {r.note} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (a smoke test of the command)")
    parser.add_argument("--replicas", default="1,2,3", help="cluster sizes to measure (default 1,2,3)")
    parser.add_argument("--duration", type=int, default=None, help="seconds of each warm run (default 6)")
    parser.add_argument("--concurrency", type=int, default=8, help="wrk connections (default 8)")
    args = parser.parse_args()
    args.duration = args.duration or (2 if args.quick else 6)
    args.regions = 60 if args.quick else 300
    if missing := missing_packages():
        sys.exit(f"missing Debian packages {missing}: run scripts/setup.sh test")
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        workdir = Path(tmp)
        print("writing the slide...", file=sys.stderr)
        files = write_slide(workdir / "slide", tissue_image(WIDTH, HEIGHT), tile_size=(TILE, TILE))
        rows = bench_sqlite(files, args, workdir)
        for replicas in (int(n) for n in args.replicas.split(",")):
            rows += bench_cluster(replicas, files, args, workdir)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"\nscripts/bench_cluster.py, {started}, {cores} cores, concurrency {args.concurrency}, "
          f"warm {args.duration} s, {args.regions} IIIF regions\n")
    print(table(rows, cores))


if __name__ == "__main__":
    main()
