#!/usr/bin/env python3
"""The viewer's tile requests replayed with `wrk` (issue 12): what a browser on webassets/viewer.html asks for.

    .venv/bin/python scripts/bench_viewer_mix.py --url http://127.0.0.1:8042 --series ID [ID ...]
    .venv/bin/python scripts/bench_viewer_mix.py --compare [--platform debian13] [--seconds 8]

The viewer reads `/wsi/pyramids/{series}` once, then asks for tiles over every level: a tile the pyramid's
"FrameMap" lists straight from Orthanc (`/instances/{id}/frames/{n}/raw?version=V`), any other through
`/wsi/tiles/{series}/{z}/{x}/{y}?version=V` (webassets/direct-frames.js). `viewer_mix_rate(url, series)` replays
that mix (random tiles over all levels of the given series, in a loop, keep-alive connections) and returns
tiles/s; `plain_tiles_rate` replays the same tiles as `/wsi/tiles/...` without a version, which is what the C++
plugin's viewer asks it for.

`--compare` starts one Orthanc at a time over the JPEG slides of scripts/benchmark.py (whose helpers it borrows:
slides, start-up, the Debian 13 root) and prints: the C++ plugin (its own route), ours through the viewer's mix,
and what the cache headers cost per tile: our versioned and unversioned `/wsi/tiles` against the same plugin
without them (the commit this branch started from, exported to a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import urllib.request
from pathlib import Path

WRK_LUA = r"""
local paths, position, step = {}, 0, 1
local threads, next_id = 0, 0
function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
end
function init(args)
   for line in io.lines(args[1]) do paths[#paths + 1] = line end
   position = math.floor(#paths * id / 4)
end
function request()
   position = position % #paths + 1
   return wrk.format("GET", paths[position])
end
function done(summary, latency, requests)
   io.write(string.format("BENCH %d %d %d %d %d %d\n", summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(99), summary.errors.status,
      summary.errors.connect + summary.errors.read + summary.errors.write))
end
"""


def pyramid(base_url: str, series: str) -> dict:
    with urllib.request.urlopen(f"{base_url.rstrip('/')}/wsi/pyramids/{series}", timeout=60) as answer:
        return json.loads(answer.read())


def direct_frame(json_pyramid: dict, level: int, tx: int, ty: int, path: int = 0, plane: int = 0
                 ) -> tuple[str, int] | None:
    """The frame map read as webassets/direct-frames.js reads it: (instance, frame) or None."""
    entry = json_pyramid.get("FrameMap", [])[level] if level < len(json_pyramid.get("FrameMap", [])) else {}
    sparse = entry.get("Sparse")
    if sparse:
        for row in sparse["Tiles"]:
            if row[:4] == [tx, ty, path, plane]:
                return sparse["Instances"][row[4]], row[5]
    for block in entry.get("Full", []):
        if path in block["OpticalPaths"] and plane in block["FocalPlanes"]:
            index = ((block["OpticalPaths"].index(path) * len(block["FocalPlanes"])
                      + block["FocalPlanes"].index(plane)) * block["TilesY"] + ty) * block["TilesX"] + tx
            if block["Offset"] <= index < block["Offset"] + block["Count"]:
                return block["Instance"], index - block["Offset"]
    return None


def tile_paths(base_url: str, series_ids: list[str], mode: str = "viewer", seed: int = 12) -> list[str]:
    """Every tile of every level of the series, shuffled, as `mode` asks for it: "viewer" (frame map, versioned),
    "versioned" (/wsi/tiles with ?version= only), "plain" (/wsi/tiles, no version: the C++ plugin's viewer)."""
    out = []
    for series in series_ids:
        found = pyramid(base_url, series)
        version = found.get("Version", "")
        for level, (tiles_x, tiles_y) in enumerate(found["TilesCount"]):
            for ty in range(tiles_y):
                for tx in range(tiles_x):
                    frame = direct_frame(found, level, tx, ty) if mode == "viewer" else None
                    if frame is not None:
                        out.append(f"/instances/{frame[0]}/frames/{frame[1]}/raw?version={version}")
                    elif mode == "plain":
                        out.append(f"/wsi/tiles/{series}/{level}/{tx}/{ty}")
                    else:
                        out.append(f"/wsi/tiles/{series}/{level}/{tx}/{ty}?version={version}")
    random.Random(seed).shuffle(out)
    return out


def replay(base_url: str, paths: list[str], seconds: float = 8, connections: int = 4) -> dict:
    """`paths` in a loop with wrk over keep-alive connections: tiles/s, p50/p99 ms, errors."""
    with tempfile.TemporaryDirectory(prefix="viewer-mix-") as folder:
        (Path(folder) / "paths.txt").write_text("\n".join(paths) + "\n")
        (Path(folder) / "mix.lua").write_text(WRK_LUA)
        threads = min(connections, 2)
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                   "-s", str(Path(folder) / "mix.lua"), base_url.rstrip("/") + "/", "--",
                   str(Path(folder) / "paths.txt")]
        output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    line = next((x for x in output.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {output[-500:]}")
    requests, duration_us, p50, p99, status_errors, socket_errors = (int(v) for v in line.split()[1:])
    return {"tiles_per_s": requests / (duration_us / 1e6), "p50_ms": p50 / 1000, "p99_ms": p99 / 1000,
            "requests": requests, "status_errors": status_errors, "socket_errors": socket_errors}


def viewer_mix_rate(base_url: str, series_ids: list[str], seconds: float = 8, connections: int = 4) -> float:
    """Tiles/s of the viewer's request mix (frame map + versioned /wsi/tiles) against an Orthanc with our plugin."""
    return replay(base_url, tile_paths(base_url, series_ids, "viewer"), seconds, connections)["tiles_per_s"]


def plain_tiles_rate(base_url: str, series_ids: list[str], seconds: float = 8, connections: int = 4) -> float:
    """Tiles/s of the same tiles as /wsi/tiles/{series}/{z}/{x}/{y} (the C++ plugin's viewer asks that)."""
    return replay(base_url, tile_paths(base_url, series_ids, "plain"), seconds, connections)["tiles_per_s"]


# ---- --compare: one Orthanc at a time, scripts/benchmark.py's slides and start-up --------------------------
def _base_plugin(folder: Path) -> str:
    """The plugin as it was before the cache headers (this branch's start), exported next to a link to the
    virtualenv (found as ../.venv by wsi_plugin.py on the host; WSI_VIRTUALENV in the Debian 13 root)."""
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(root), "archive", BASE_COMMIT, "plugin"], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    (folder / ".venv").symlink_to(root / ".venv")
    return str(folder / "plugin" / "wsi_plugin.py")


BASE_COMMIT = "c2cdaf9"  # main when issue 12 items 1-2 began: no Cache-Control, no ETag on tiles


def compare(seconds: float, connections: int, platform: str, repeat: int = 1, headers_only: bool = False) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import benchmark as bench

    if platform == "debian13":
        bench.use_debian13_root()
    workdir = Path(tempfile.mkdtemp(prefix="viewer-mix-bench-"))
    copies = [bench.dicomized("jpeg", i) for i in range(4)]
    with bench.running(bench.RAW, workdir) as client:
        series = [bench.upload(client, folder) for folder in copies]
    base = _base_plugin(Path(tempfile.mkdtemp(prefix="wsi-base-")))
    threads = True if platform == "debian13" else None
    runs = [("C++ plugin, /wsi/tiles", bench.Server("cpp", False), "plain"),
            ("ours, the viewer's mix", bench.Server("ours", False, allow_threads=threads), "viewer"),
            ("ours, /wsi/tiles?version= (Cache-Control)", bench.Server("ours", False, allow_threads=threads),
             "versioned"),
            ("ours, /wsi/tiles (ETag)", bench.Server("ours", False, allow_threads=threads), "plain"),
            ("ours before (no header), /wsi/tiles?version=", bench.Server("ours", False, base, threads), "versioned"),
            ("ours before (no header), /wsi/tiles", bench.Server("ours", False, base, threads), "plain")]
    if headers_only:
        runs = runs[2:]
    print(f"| {platform}: {connections} connections, {seconds:.0f} s, all tiles of 4 JPEG series in a loop"
          f"{f', median of {repeat} interleaved runs' if repeat > 1 else ''} | tiles/s | p50 ms | p99 ms | "
          "CPU ms/tile | errors |\n|---|---:|---:|---:|---:|---:|")
    results: dict[str, list[tuple[dict, float]]] = {}
    for _ in range(repeat):  # interleaved: a busy spell on a shared machine hits every configuration alike
        for label, server, mode in runs:
            with bench.running(server, workdir) as client:
                url = f"http://127.0.0.1:{client.port}"
                paths = tile_paths(url, series, mode) if server.kind == "ours" else tile_paths_plain(client, series)
                replay(url, paths[:200], 1, connections)  # warm: the first pass reads and decides once
                cpu = client.cpu_seconds()
                result = replay(url, paths, seconds, connections)
                cpu_ms = (client.cpu_seconds() - cpu) * 1000 / max(1, result["requests"])
            results.setdefault(label, []).append((result, cpu_ms))
    for label, found in results.items():
        result, _ = sorted(found, key=lambda pair: pair[0]["tiles_per_s"])[len(found) // 2]
        cpu_ms = sorted(c for _, c in found)[len(found) // 2]
        errors = sum(r["status_errors"] + r["socket_errors"] for r, _ in found)
        print(f"| {label} | {result['tiles_per_s']:,.0f} | {result['p50_ms']:.2f} | {result['p99_ms']:.2f} | "
              f"{cpu_ms:.3f} | {errors} |", flush=True)


def tile_paths_plain(client, series_ids: list[str], seed: int = 12) -> list[str]:
    """The C++ plugin's pyramid has no frame map or version: its viewer asks /wsi/tiles for every tile."""
    out = []
    for series in series_ids:
        counts = client.json(f"/wsi/pyramids/{series}")["TilesCount"]
        out += [f"/wsi/tiles/{series}/{z}/{x}/{y}" for z, (w, h) in enumerate(counts) for y in range(h)
                for x in range(w)]
    random.Random(seed).shuffle(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="Orthanc's base URL (with our plugin)")
    parser.add_argument("--series", nargs="*", default=[], help="series ids to view")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--compare", action="store_true", help="C++ plugin, ours, header cost: see the docstring")
    parser.add_argument("--platform", choices=("host", "debian13"), default="host")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved runs per configuration (median shown)")
    parser.add_argument("--headers-only", action="store_true", help="only the header-cost rows of --compare")
    args = parser.parse_args()
    if args.compare:
        compare(args.seconds, args.connections, args.platform, args.repeat, args.headers_only)
        return
    if not args.url or not args.series:
        parser.error("--url and --series, or --compare")
    print(f"{viewer_mix_rate(args.url, args.series, args.seconds, args.connections):,.0f} tiles/s")


if __name__ == "__main__":
    main()
