#!/usr/bin/env python3
"""Tile throughput of this plugin against the C++ WSI plugin, with Orthanc's raw-frame route as the floor.

    .venv/bin/python scripts/benchmark.py [--quick] [--duration S] [--platform host|debian13]

Makes (once, cached under tests/.cache/bench/) a synthetic tissue-like 8192x6144 slide, dicomized by
OrthancWSIDicomizer as JPEG and as lossless JPEG 2000 (512x512 tiles, 5 levels); uploads both into a temporary
Orthanc storage; then starts one Orthanc at a time on 127.0.0.1 (never two at once: they would share the cores)
and drives it with `wrk` (keep-alive) at each concurrency:

- cold: every tile once, in random order, in a freshly started Orthanc (series metadata already loaded);
- warm: a hot set of level-0 tiles repeated for the duration;
- browser: warm, but sending `Accept-Encoding: gzip, deflate` as every browser does, with
  HttpCompressionEnabled on and off, to show what Orthanc's gzip of already-compressed tiles costs.

`--platform debian13` runs the same table on the Orthanc of the Debian 13 root of tests/support/debian13.py
(Orthanc 1.12.7, orthanc-python 5.0, C++ plugin 3.2; built there on first use), each Orthanc chrooted in a
private mount namespace, wrk on the host against 127.0.0.1; ours is measured twice there, orthanc-python's
`AllowThreads` off and on (4.0, on Debian 12, has no such option).

Prints a markdown table (tiles/s, p50/p99 latency, ratio ours/C++) after the platform each server measured
(/system, /plugins). Standard library, numpy and Pillow only (plus tests/support/debian13.py for debian13).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "tests" / ".cache" / "bench"
PYTHON_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPython.so"
CPP_PLUGIN = "/usr/share/orthanc/plugins/libOrthancWSI.so"
DICOMIZER = "/usr/bin/OrthancWSIDicomizer"
WIDTH, HEIGHT, TILE, LEVELS = 8192, 6144, 512, 5
BROWSER_HEADERS = {"Accept-Encoding": "gzip, deflate"}
# What our viewer's tile fetches send (webassets/direct-frames.js), as an <img> would: tiles ours must re-encode
# then come as lossless WebP instead of PNG. The C++ plugin has no WebP: its viewer gets PNG. Those rows also ask
# versioned URLs (`?version=`), as the viewer does.
VIEWER_ACCEPT = {"Accept": "image/webp,image/*,*/*;q=0.8"}
WEBP_SUFFIX = " -> WebP (viewer's Accept)"
SEED = 20240611
VERSION = "v2"  # of the synthetic slide: bump when tissue_image changes
TICKS = os.sysconf("SC_CLK_TCK")

# wrk script: requests the paths of a list file. mode=once walks each thread's share once then stops the
# thread (cold); mode=loop cycles (warm). done() prints one "BENCH {json}" line (latencies in microseconds).
LUA = r"""
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *now);
int kill(int pid, int sig);
int getpid(void);
]]
local timespec = ffi.new("bench_timespec")
local function now() -- CLOCK_MONOTONIC, seconds: comparable across wrk's threads
   ffi.C.clock_gettime(1, timespec)
   return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

local threads, next_tid = {}, 0
function setup(thread)
   thread:set("tid", next_tid)
   threads[#threads + 1] = thread
   next_tid = next_tid + 1
end

local options, list, count, pos, answered, verified = {}, nil, 0, 0, 0, false
first_at, last_at = 0, 0

function init(args)
   for i = 0, 16 do
      local key, value = tostring(args[i] or ""):match("^(%w+)=(.*)$")
      if key then options[key] = value end
   end
   if options.mode ~= "once" then response = nil end -- wrk then skips parsing headers and bodies
end

local function load()
   list = {}
   local n_threads, line_no = tonumber(options.threads), 0
   for line in io.lines(options.list) do
      if line_no % n_threads == tid then
         count = count + 1
         list[count] = wrk.format(nil, line)
      end
      line_no = line_no + 1
   end
end

function request()
   if not list then load() end
   if tid == 0 and not verified then
      verified = true -- wrk calls request() once on thread 0 to check it: do not use up a path
      return list[1]
   end
   if first_at == 0 then first_at = now() end
   if options.mode == "once" then
      pos = pos + 1
      return pos <= count and list[pos] or "" -- an empty request leaves the connection idle
   end
   pos = pos % count + 1
   return list[pos]
end

-- wrk's main thread sleeps for the whole duration: when every thread has walked its list, a flag file per
-- thread lets the last one interrupt that sleep with SIGINT, which wrk handles by reporting.
local function all_finished()
   io.open(options.flags .. "/" .. tid, "w"):close()
   for i = 0, tonumber(options.threads) - 1 do
      local flag = io.open(options.flags .. "/" .. i, "r")
      if not flag then return false end
      flag:close()
   end
   return true
end

function response(status, headers, body)
   answered = answered + 1
   last_at = now()
   if answered >= count then
      wrk.thread:stop()
      if all_finished() then ffi.C.kill(ffi.C.getpid(), 2) end
   end
end

function done(summary, latency, requests)
   local first, last = math.huge, 0
   for _, thread in ipairs(threads) do
      local a, b = thread:get("first_at"), thread:get("last_at")
      if a and a > 0 then first = math.min(first, a) end
      if b then last = math.max(last, b) end
   end
   local e = summary.errors
   io.write(string.format('BENCH {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, ' ..
      '"p99_us": %d, "status_errors": %d, "socket_errors": %d, "walk_s": %.6f}\n', summary.requests,
      summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99), e.status,
      e.connect + e.read + e.write, last > first and last - first or 0))
end
"""


@dataclass(frozen=True)
class Server:
    kind: str  # "raw" (Orthanc alone: the floor), "cpp" (libOrthancWSI) or "ours"
    gzip: bool  # HttpCompressionEnabled
    script: str = str(ROOT / "plugin" / "wsi_plugin.py")  # ours only: the PythonScript to load
    allow_threads: bool | None = None  # ours only: orthanc-python's Python.AllowThreads (None: not set, 4.0)
    prerender: bool = False  # ours only: WholeSlideImaging.PreRender on, its own storage (run_prerendered)

    @property
    def label(self) -> str:
        label = {"raw": "raw frame (floor)", "cpp": "C++ plugin", "ours": "ours"}[self.kind]
        if self.allow_threads is not None:
            label += f" (AllowThreads {'on' if self.allow_threads else 'off'})"
        return label


RAW, CPP, OURS = Server("raw", True), Server("cpp", True), Server("ours", False)  # Orthanc default / shipped


@dataclass
class Slide:
    kind: str  # "jpeg" or "jpeg2000"
    frames: dict[tuple[str, int, int, int], tuple[str, int]]  # (series, level, x, y) -> (instance, frame)

    def path(self, tile: tuple[str, int, int, int], server: Server) -> str:
        if server.kind == "raw":
            return "/instances/{}/frames/{}/raw".format(*self.frames[tile])
        return "/wsi/tiles/{}/{}/{}/{}".format(*tile)

    @property
    def series(self) -> list[str]:
        return sorted({tile[0] for tile in self.frames})


@dataclass
class Row:
    scenario: str
    concurrency: int
    server: Server
    tiles_per_s: float
    p50_ms: float
    p99_ms: float
    kb_per_tile: float
    cpu_ms_per_tile: float  # the Orthanc process's user + system CPU time
    note: str = ""


# ---- slides --------------------------------------------------------------------------------------------
def tissue_image(width: int, height: int, seed: int = 1) -> np.ndarray:
    """RGB uint8 H&E-like picture: glass, pink stroma with fibres, purple nuclei and a little sensor grain."""
    rng = np.random.default_rng(seed)

    def smooth(cell: int) -> np.ndarray:
        grid = rng.random((height // cell + 2, width // cell + 2), dtype=np.float32)
        resized = Image.fromarray(grid, mode="F").resize((width, height), Image.Resampling.BICUBIC)
        return np.asarray(resized, dtype=np.float32)

    tissue = np.clip((0.7 * smooth(1024) + 0.3 * smooth(128) - 0.45) * 6, 0, 1)
    nuclei = np.clip((smooth(6) - 0.62) * 6, 0, 1) * tissue
    fibre = smooth(24) - 0.5
    grain = rng.integers(-3, 4, size=(height, width), dtype=np.int8).astype(np.float32)
    out = np.empty((height, width, 3), np.uint8)
    for c, (glass, eosin, haem) in enumerate(zip((242, 240, 244), (235, 150, 190), (90, 60, 150), strict=True)):
        value = glass + tissue * (eosin - glass + 30 * fibre) + nuclei * (haem - eosin) + grain * (0.3 + tissue)
        out[..., c] = np.clip(value, 0, 255)
    return out


def source_png() -> Path:
    path = CACHE / f"source-{VERSION}-{WIDTH}x{HEIGHT}.png"
    if not path.exists():
        log(f"making {path.name}")
        CACHE.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part.png")
        Image.fromarray(tissue_image(WIDTH, HEIGHT)).save(partial, compress_level=1)
        partial.rename(path)
    return path


def dicomized(kind: str, copy: int) -> Path:
    """A folder of DICOM files; each copy is a separate dicomizer run, hence a separate series."""
    folder = CACHE / f"{VERSION}-{kind}-{copy}"
    if (folder / ".complete").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log(f"dicomizing {folder.name}")
    command = [DICOMIZER, str(source_png()), "--pyramid=1", f"--levels={LEVELS}", f"--compression={kind}",
               f"--tile-width={TILE}", f"--tile-height={TILE}", "--threads=2", f"--folder={folder}"]
    if kind == "jpeg":
        command.append("--jpeg-quality=90")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dicomizer failed: {done.stderr[-2000:]}")
    (folder / ".complete").touch()
    return folder


# ---- Orthanc --------------------------------------------------------------------------------------------
class Client:
    def __init__(self, port: int, pid: int) -> None:
        self.port, self.pid = port, pid

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            connection.request(method, path, body, headers or {})
            answer = connection.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        finally:
            connection.close()

    def json(self, path: str) -> dict:
        status, _, body = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}: {body[:200]!r}")
        return json.loads(body)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The Debian 13 root (tests/support/debian13.py) when --platform debian13; None: the host's Orthanc.
PLATFORM_ROOT = None
# What the servers measured about themselves: label -> "Orthanc 1.12.7, ...", for the table's heading.
MEASURED: dict[str, str] = {}


def orthanc_config(server: Server, port: int, db: Path, derivatives: Path) -> dict:
    config: dict = {"Name": f"bench-{server.kind}", "HttpPort": port, "DicomServerEnabled": False,
                    "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "StorageDirectory": str(db),
                    "IndexDirectory": str(db), "HttpCompressionEnabled": server.gzip, "KeepAlive": True,
                    "HttpThreadsCount": 50, "Plugins": []}
    if server.kind == "cpp":
        config["Plugins"] = [CPP_PLUGIN]
    elif server.kind == "ours":
        wsi = {"CacheSizeMB": 256, "DerivativeCacheFolder": str(derivatives)}
        if server.prerender:  # all of one core: the benchmark waits for it, nobody else asks meanwhile
            wsi.update(PreRender=True, PreRenderCPUShare=1.0)
            config["StableAge"] = 1
        config.update(Plugins=[PYTHON_PLUGIN], PythonScript=server.script, WholeSlideImaging=wsi)
        if server.allow_threads is not None:
            config["Python"] = {"AllowThreads": server.allow_threads}
    return config


def orthanc_command(server: Server, config: Path, workdir: Path) -> list[str]:
    """Orthanc on the host, or chrooted in the Debian 13 root (the checkout and /tmp mounted at their paths)."""
    if PLATFORM_ROOT is None:
        return ["Orthanc", str(config)]
    paths = [workdir] + ([Path(server.script).parent] if server.kind == "ours" else [])
    return PLATFORM_ROOT.command(["Orthanc", str(config)], paths=paths)


def measure_platform(client: Client, server: Server) -> None:
    """Note once per server kind what it runs on, as the server itself says."""
    if server.kind in MEASURED:
        return
    parts = [f"Orthanc {client.json('/system')['Version']}"]
    for plugin, name in (("python", "orthanc-python"), ("wsi", "C++ WSI plugin")):
        if plugin in client.json("/plugins"):
            parts.append(f"{name} {client.json(f'/plugins/{plugin}')['Version']}")
    MEASURED[server.kind] = ", ".join(parts)


@contextlib.contextmanager
def running(server: Server, workdir: Path, db: str = "db", keep_derivatives: bool = False) -> Iterator[Client]:
    """One Orthanc on 127.0.0.1 over the shared temporary storage; always stopped on the way out.

    Ours starts with an empty derivative cache (disk) unless `keep_derivatives`: a fresh process is cold."""
    port = free_port()
    config = workdir / "orthanc.json"
    derivatives = workdir / "derivatives"
    if not keep_derivatives:
        shutil.rmtree(derivatives, ignore_errors=True)
    config.write_text(json.dumps(orthanc_config(server, port, workdir / db, derivatives)))
    log_path = workdir / "orthanc.log"
    logged = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(orthanc_command(server, config, workdir), stdout=log_file,
                                   stderr=subprocess.STDOUT, cwd=workdir)
        try:
            client = Client(port, process.pid)
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"Orthanc exited with {process.returncode}: see {workdir}/orthanc.log")
                with contextlib.suppress(OSError):
                    if client.request("GET", "/system")[0] == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("Orthanc did not start within 60 s")
                time.sleep(0.1)
            measure_platform(client, server)
            if server.allow_threads is not None:  # the plugin logs what orthanc-python was told at start
                said = f"Python.AllowThreads: {str(server.allow_threads).lower()}"
                with open(log_path, "rb") as text:
                    text.seek(logged)
                    if said.encode() not in text.read():
                        raise RuntimeError(f"our plugin did not log {said!r}: see {log_path}")
            yield client
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def upload(client: Client, folder: Path) -> str:
    series = set()
    for file in sorted(folder.glob("*.dcm")):
        status, _, body = client.request("POST", "/instances", file.read_bytes(),
                                         {"Content-Type": "application/dicom"})
        if status != 200:
            raise RuntimeError(f"upload of {file} failed: HTTP {status}")
        series.add(json.loads(body)["ParentSeries"])
    if len(series) != 1:
        raise RuntimeError(f"{folder} holds {len(series)} series, expected one")
    return series.pop()


def frame_map(client: Client, series: str) -> dict[tuple[str, int, int, int], tuple[str, int]]:
    """Tile -> (instance, frame), from each frame's position in the total pixel matrix."""
    by_width: dict[int, dict[tuple[int, int], tuple[str, int]]] = {}
    for instance in client.json(f"/series/{series}")["Instances"]:
        tags = client.json(f"/instances/{instance}/tags?short")
        if "0048,0006" not in tags:
            continue
        width, columns, rows = int(tags["0048,0006"]), int(tags["0028,0011"]), int(tags["0028,0010"])
        groups = tags.get("5200,9230") or []
        for n in range(int(tags.get("0028,0008", 1))):
            if n < len(groups):
                position = groups[n]["0048,021a"][0]
                x, y = (int(position["0048,021e"]) - 1) // columns, (int(position["0048,021f"]) - 1) // rows
            else:  # TILED_FULL without per-frame positions: row-major
                x, y = n % -(-width // columns), n // -(-width // columns)
            by_width.setdefault(width, {})[(x, y)] = (instance, n)
    levels = sorted(by_width, reverse=True)
    return {(series, z, x, y): ref for z, w in enumerate(levels) for (x, y), ref in by_width[w].items()}


def check_pyramid(client: Client, slide: Slide) -> dict[str, str]:
    """Load each series' pyramid (so cold runs time tiles, not metadata) and check it matches the frames; returns
    each series' Version (ours only)."""
    versions = {}
    for series in slide.series:
        pyramid = client.json(f"/wsi/pyramids/{series}")
        versions[series], counts = pyramid.get("Version", ""), pyramid["TilesCount"]
        for z, (tiles_x, tiles_y) in enumerate(counts):
            found = sum(1 for tile in slide.frames if tile[0] == series and tile[1] == z)
            if found != tiles_x * tiles_y:
                raise RuntimeError(f"series {series} level {z}: {found} frames, pyramid says {tiles_x}x{tiles_y}")
    return versions


def versioned(paths: list[str], versions: dict[str, str]) -> list[str]:
    """/wsi/tiles paths as our viewer asks them: with the series' version (immutable answers, no ETag)."""
    return [f"{path}?version={versions[path.split('/')[3]]}" for path in paths]


# ---- load ----------------------------------------------------------------------------------------------
def busy_seconds() -> float:
    """CPU time spent by every process on the machine (from /proc/stat), to see who else was running."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICKS  # minus idle and iowait


def run_wrk(client: Client, paths: list[str], concurrency: int, seconds: int, mode: str,
            headers: dict[str, str], workdir: Path) -> dict:
    threads = min(concurrency, 2, len(paths))
    flags = Path(tempfile.mkdtemp(dir=workdir))
    (workdir / "paths.txt").write_text("\n".join(paths) + "\n")
    (workdir / "tiles.lua").write_text(LUA)
    command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "60s",
               "-s", str(workdir / "tiles.lua")]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command += [f"http://127.0.0.1:{client.port}/", "--", f"list={workdir / 'paths.txt'}",
                f"threads={threads}", f"mode={mode}", f"flags={flags}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120).stdout
    line = next((x for x in output.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {output[-1000:]}")
    return json.loads(line[6:])


def measure(client: Client, scenario: str, server: Server, paths: list[str], concurrency: int, seconds: int,
            mode: str, workdir: Path, headers: dict[str, str] | None = None) -> Row:
    cpu, wrk_cpu, busy, wall = (client.cpu_seconds(), children_cpu_seconds(), busy_seconds(), time.monotonic())
    result = run_wrk(client, paths, concurrency, seconds, mode, headers or {}, workdir)
    cpu = client.cpu_seconds() - cpu
    others = (busy_seconds() - busy - cpu - (children_cpu_seconds() - wrk_cpu)) / (time.monotonic() - wall)
    requests = max(1, result["requests"])
    # Cold runs stop when the list is walked: time them from the first request to the last answer.
    elapsed = result["walk_s"] if mode == "once" and result["walk_s"] > 0 else result["duration_us"] / 1e6
    row = Row(scenario, concurrency, server, requests / elapsed, result["p50_us"] / 1000, result["p99_us"] / 1000,
              result["bytes"] / requests / 1000, cpu * 1000 / requests)
    notes = []
    if result["status_errors"]:
        notes.append(f"{result['status_errors']} HTTP errors")
    if mode == "once" and result["requests"] < len(paths):
        notes.append(f"only {result['requests']}/{len(paths)} tiles answered (cap {seconds} s)")
    elif result["socket_errors"] and mode != "once":
        # In a cold walk, connections left idle at the end may be closed by Orthanc: harmless there.
        notes.append(f"{result['socket_errors']} socket errors")
    if others > 0.25:
        notes.append(f"other processes used {others:.1f} cores")
    row.note = "; ".join(notes)
    log(f"{scenario:>22} c={concurrency:<2} {server.label} (gzip {'on' if server.gzip else 'off'}): "
        f"{row.tiles_per_s:8.0f} tiles/s  p50 {row.p50_ms:7.2f} ms  p99 {row.p99_ms:7.2f} ms  "
        f"CPU {row.cpu_ms_per_tile:6.2f} ms/tile {row.note}")
    return row


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def prime(client: Client, paths: list[str]) -> None:
    for path in paths:
        status, _, _ = client.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path}: HTTP {status}")


def describe(client: Client, server: Server, slide: Slide, tile: tuple[str, int, int, int]) -> str:
    """What the server answers for one tile, plain and browser-like (media type, size, gzip)."""
    parts = []
    stored = client.request("GET", slide.path(tile, RAW))[2]
    for headers in ({}, BROWSER_HEADERS):
        status, answer, body = client.request("GET", slide.path(tile, server), headers=headers)
        encoding = answer.get("content-encoding", "identity")
        same = ", the stored frame's bytes" if body == stored and server.kind != "raw" else ""
        parts.append(f"{status} {answer.get('content-type')} {len(body) / 1000:.1f} kB {encoding}{same}")
    return f"{server.label} (gzip {'on' if server.gzip else 'off'}), {slide.kind}: " + " | ".join(parts)


# ---- plan and table ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    concurrency: tuple[int, ...]
    seconds: int
    cold_cap_s: int
    jpeg_copies: int
    cold_limit: dict[str, int]  # most tiles walked per cold run, by slide kind
    cold_repeats: dict[str, int]
    hot_tiles: int
    browser_slides: tuple[str, ...]
    browser_extra: tuple[Server, ...]


def cold_paths(slide: Slide, server: Server, concurrency: int, limit: int) -> list[str]:
    tiles = sorted(slide.frames)
    random.Random(f"{SEED}-{slide.kind}-{concurrency}").shuffle(tiles)
    return [slide.path(tile, server) for tile in tiles[:limit]]


def hot_tiles(slide: Slide, count: int) -> list[tuple[str, int, int, int]]:
    level0 = sorted(t for t in slide.frames if t[0] == slide.series[0] and t[1] == 0)
    return random.Random(f"{SEED}-{slide.kind}-hot").sample(level0, min(count, len(level0)))


NAMES = {"jpeg": "JPEG", "jpeg2000": "JPEG 2000 -> PNG"}


def run_cold(server: Server, slides: list[Slide], plan: Plan, workdir: Path) -> list[Row]:
    rows = []
    for slide in slides:
        for c in plan.concurrency:
            paths = cold_paths(slide, server, c, plan.cold_limit[slide.kind])
            runs = []
            for _ in range(plan.cold_repeats[slide.kind]):
                with running(server, workdir) as client:  # a fresh process: every cache is cold
                    if server.kind != "raw":
                        check_pyramid(client, slide)
                    runs.append(measure(client, f"cold {NAMES[slide.kind]}", server, paths, c, plan.cold_cap_s,
                                        "once", workdir))
            # Short runs on a shared machine: the median run (by tiles/s) is the one reported.
            median = sorted(runs, key=lambda r: r.tiles_per_s)[len(runs) // 2]
            if len(runs) > 1:
                median.note = "; ".join(filter(None, [f"median of {len(runs)}", median.note]))
            rows.append(median)
            if server.kind == "ours" and slide.kind == "jpeg2000":
                rows.append(run_cold_webp(server, slide, paths, c, plan, workdir))
    return rows


def run_cold_webp(server: Server, slide: Slide, paths: list[str], c: int, plan: Plan, workdir: Path) -> Row:
    """Ours as its viewer asks (lossless WebP): the same cold walk in a fresh process."""
    with running(server, workdir) as client:
        paths = versioned(paths, check_pyramid(client, slide))
        row = measure(client, f"cold {webp_name(slide)}", server, paths, c, plan.cold_cap_s, "once", workdir,
                      VIEWER_ACCEPT)
        expect_media_type(client, paths[0], VIEWER_ACCEPT, "image/webp")
        return row


def expect_media_type(client: Client, path: str, headers: dict[str, str], media_type: str) -> None:
    status, answer, body = client.request("GET", path, headers=headers)
    if (status, answer.get("content-type")) != (200, media_type):
        raise RuntimeError(f"GET {path} {headers}: {status} {answer.get('content-type')}, not {media_type}: "
                           f"{body[:200]!r}")


def webp_name(slide: Slide) -> str:
    return NAMES[slide.kind].replace(" -> PNG", "") + WEBP_SUFFIX


def run_warm(server: Server, slides: list[Slide], plan: Plan, workdir: Path, notes: list[str],
             plain: bool) -> list[Row]:
    rows = []
    with running(server, workdir) as client:
        for slide in slides if plain else [s for s in slides if s.kind in plan.browser_slides]:
            hot = [slide.path(tile, server) for tile in hot_tiles(slide, plan.hot_tiles)]
            prime(client, hot)
            notes.append(describe(client, server, slide, hot_tiles(slide, 1)[0]))
            scenarios = [("warm", {})] if plain else []
            if slide.kind in plan.browser_slides:
                scenarios.append(("browser", BROWSER_HEADERS))
            for scenario, headers in scenarios:
                for c in plan.concurrency:
                    rows.append(measure(client, f"{scenario} {NAMES[slide.kind]}", server, hot, c, plan.seconds,
                                        "loop", workdir, headers))
    return rows


def run_prerendered(server: Server, slide: Slide, folder: Path, plan: Plan, workdir: Path,
                    notes: list[str]) -> list[Row]:
    """First view after ingest with pre-rendering on: the slide is stored into an Orthanc of its own, which
    pre-renders it when stable (StableAge 1 s); then each concurrency walks every tile once in a freshly
    started Orthanc over that disk cache (memory cold, as after a restart or in another replica)."""
    pre = Server("ours", server.gzip, server.script, server.allow_threads, prerender=True)
    shutil.rmtree(workdir / "db-prerender", ignore_errors=True)
    with running(pre, workdir, db="db-prerender") as client:
        started, cpu = time.monotonic(), client.cpu_seconds()
        series = upload(client, folder)
        if [series] != slide.series:
            raise RuntimeError(f"pre-render: stored {series}, expected {slide.series}")
        progress: dict = {}
        while progress.get("State") not in ("done", "failed", "stopped", "skipped"):
            if time.monotonic() - started > 900:
                raise RuntimeError(f"pre-render not done after 900 s: {progress}")
            time.sleep(0.25)
            progress = client.json(f"/wsi/pyramids/{series}").get("PreRender", {})
        took, cpu = time.monotonic() - started, client.cpu_seconds() - cpu
    note = (f"pre-render after ingest ({pre.label}): {progress.get('Rendered')} of {progress.get('Total')} tiles "
            f"rendered, state {progress.get('State')}, {took:.1f} s from the upload's start (StableAge 1 s "
            f"included), {cpu:.1f} CPU s")
    log(note)
    notes.append(note)
    rows = []
    for c in plan.concurrency:
        paths = cold_paths(slide, server, c, plan.cold_limit[slide.kind])
        for name, headers in ((NAMES[slide.kind], {}), (webp_name(slide), VIEWER_ACCEPT)):
            with running(pre, workdir, db="db-prerender", keep_derivatives=True) as client:
                versions = check_pyramid(client, slide)
                asked = versioned(paths, versions) if headers else paths
                rows.append(measure(client, f"pre-rendered {name}", pre, asked, c, plan.cold_cap_s, "once", workdir,
                                    headers))
                expect_media_type(client, asked[0], headers, "image/webp" if headers else "image/png")
    return rows


def run_viewer_mix(server: Server, slides: list[Slide], plan: Plan, workdir: Path) -> list[Row]:
    """The viewer's requests over every tile of every level of the JPEG slides, in a loop: ours as
    webassets/viewer.html asks (frame map: stored frames from Orthanc's raw-frame route, versioned /wsi/tiles for
    the rest; scripts/bench_viewer_mix.py), the C++ plugin as its viewer asks (/wsi/tiles). Each tile is fetched
    once before the timed loop, as a browser would have for this many tiles in view."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_viewer_mix import tile_paths

    rows = []
    slide = next(s for s in slides if s.kind == "jpeg")
    with running(server, workdir) as client:
        mode = "viewer" if server.kind == "ours" else "plain"
        paths = tile_paths(f"http://127.0.0.1:{client.port}", slide.series, mode)
        prime(client, paths)
        for c in plan.concurrency:
            rows.append(measure(client, "viewer mix JPEG", server, paths, c, plan.seconds, "loop", workdir))
    return rows


FIRST_VIEW_REPEATS = 3
FIRST_VIEW_PAUSE_S = 0.5  # a viewer shows the top level first; the user zooms in later


def run_first_view(server: Server, slides: list[Slide], workdir: Path) -> list[str]:
    """A slide in a freshly started Orthanc: its pyramid, then the top level's first tile at once, then a base-level
    tile FIRST_VIEW_PAUSE_S later; medians of FIRST_VIEW_REPEATS starts, in ms. Twice: never seen (ours with an
    empty derivative cache; the C++ plugin without the analysis it stores in each instance's metadata 4201 on its
    first pyramid, deleted before each start's requests), and seen before (each keeps what it stored)."""
    lines = []
    for slide in slides:
        series = slide.series[0]
        top_level = max(tile[1] for tile in slide.frames if tile[0] == series)
        top, base = slide.path((series, top_level, 0, 0), server), slide.path((series, 0, 0, 0), server)
        for seen in (False, True):
            if seen:
                with running(server, workdir) as client:  # what a first view stores, kept for the next starts
                    client.request("GET", f"/wsi/pyramids/{series}")
            timings = [first_view_once(server, workdir, series, top, base, seen) for _ in range(FIRST_VIEW_REPEATS)]
            pyramid, first, later = (sorted(t[i] for t in timings)[len(timings) // 2] for i in range(3))
            state = "seen before" if seen else "never seen"
            lines.append(f"| {NAMES[slide.kind]} | {server.label} | {state} | {pyramid:.1f} | {first:.1f} | "
                         f"{later:.1f} |")
            log(f"first view {slide.kind} {server.label} ({state}): pyramid {pyramid:.1f} ms, top tile {first:.1f} ms, "
                f"base tile {later:.1f} ms")
    return lines


def first_view_once(server: Server, workdir: Path, series: str, top: str, base: str,
                    seen: bool) -> tuple[float, float, float]:
    with running(server, workdir, keep_derivatives=seen) as client:
        if server.kind == "cpp" and not seen:
            for instance in client.json(f"/series/{series}/instances"):
                client.request("DELETE", f"/instances/{instance['ID']}/metadata/4201")
        spent = []
        for path in ([] if server.kind == "raw" else [f"/wsi/pyramids/{series}"]) + [top]:
            began = time.perf_counter()
            if client.request("GET", path)[0] != 200:
                raise RuntimeError(f"first view: GET {path} failed")
            spent.append((time.perf_counter() - began) * 1000)
        time.sleep(FIRST_VIEW_PAUSE_S)
        began = time.perf_counter()
        if client.request("GET", base)[0] != 200:
            raise RuntimeError(f"first view: GET {base} failed")
        spent.append((time.perf_counter() - began) * 1000)
    return (0.0, *spent) if len(spent) == 2 else (spent[0], spent[1], spent[2])


def first_view_table(lines: list[str]) -> str:
    return "\n".join([f"| slide | server | state | pyramid ms | top tile, at once, ms | base tile "
                      f"{FIRST_VIEW_PAUSE_S:g} s later, ms |", "|---|---|---|---:|---:|---:|", *lines])


# Rows compared with another scenario of the C++ plugin than their own (it has no disk cache to fill).
REFERENCE_SCENARIO = {"pre-rendered JPEG 2000 -> PNG": "cold JPEG 2000 -> PNG",
                      f"pre-rendered JPEG 2000{WEBP_SUFFIX}": "cold JPEG 2000 -> PNG",
                      f"cold JPEG 2000{WEBP_SUFFIX}": "cold JPEG 2000 -> PNG"}


def table(rows: list[Row]) -> str:
    lines = ["| scenario | conc. | server | gzip | tiles/s | p50 ms | p99 ms | kB/tile | CPU ms/tile | ours/C++ "
             "| notes |", "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|"]
    order = {"cold": 0, "pre-rendered": 1, "warm": 2, "viewer": 3, "browser": 4}
    servers = {"raw": 0, "cpp": 1, "ours": 2}
    rows = sorted(rows, key=lambda r: (order[r.scenario.split()[0]], r.scenario, r.concurrency,
                                       servers[r.server.kind], bool(r.server.allow_threads), not r.server.gzip))
    for row in rows:
        ratio = ""
        if row.server.kind == "ours":  # against the C++ plugin under the same compression setting
            browser = row.scenario.startswith("browser")  # elsewhere no gzip is asked for: the setting is moot
            scenario = REFERENCE_SCENARIO.get(row.scenario, row.scenario)
            cpp = [r for r in rows if r.server.kind == "cpp" and (r.server.gzip == row.server.gzip or not browser)
                   and (r.scenario, r.concurrency) == (scenario, row.concurrency)]
            ratio = f"{row.tiles_per_s / cpp[0].tiles_per_s:.2f}" if cpp else ""
        gzip = ("on" if row.server.gzip else "off") if row.scenario.startswith("browser") else ""
        lines.append(f"| {row.scenario} | {row.concurrency} | {row.server.label} | {gzip} | {row.tiles_per_s:,.0f} | "
                     f"{row.p50_ms:.2f} | {row.p99_ms:.2f} | {row.kb_per_tile:.1f} | {row.cpu_ms_per_tile:.2f} | "
                     f"{ratio} | {row.note} |")
    return "\n".join(lines)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def make_plan(quick: bool, duration: int | None, concurrency: str | None) -> Plan:
    seconds = duration or (1 if quick else 5)
    concurrency = concurrency or ("1,16" if quick else "1,4,16")
    return Plan(concurrency=tuple(int(c) for c in concurrency.split(",")), seconds=seconds,
                cold_cap_s=max(15, 8 * seconds), jpeg_copies=1 if quick else 4,
                cold_limit={"jpeg": 1 << 30, "jpeg2000": 32 if quick else 1 << 30}, hot_tiles=32 if quick else 64,
                cold_repeats={"jpeg": 1 if quick else 3, "jpeg2000": 1},
                browser_slides=("jpeg",) if quick else ("jpeg", "jpeg2000"),
                browser_extra=(Server("ours", True), Server("cpp", False)) + (() if quick else (Server("raw", False),)))


def load_slides(folders: dict[str, list[Path]], workdir: Path) -> list[Slide]:
    """Upload every copy into the shared temporary storage; map each tile to its frame."""
    slides = []
    with running(RAW, workdir) as client:
        for kind, copies in folders.items():
            frames: dict = {}
            for folder in copies:
                frames.update(frame_map(client, upload(client, folder)))
            slides.append(Slide(kind, frames))
    log("uploaded: " + ", ".join(f"{s.kind} {len(s.series)} series, {len(s.frames)} tiles" for s in slides))
    return slides


def use_debian13_root() -> None:
    """Run every Orthanc in the Debian 13 root (built first if needed: minutes, once)."""
    global PLATFORM_ROOT
    sys.path.insert(0, str(ROOT))
    from tests.support.debian13 import RootUnavailable, ensure_root

    try:
        PLATFORM_ROOT = ensure_root(log)
    except RootUnavailable as error:
        sys.exit(f"benchmark: no Debian 13 root: {error}")


def host_system() -> str:
    try:
        return f"Debian {Path('/etc/debian_version').read_text().strip()}"
    except OSError:
        return "(not Debian)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer configurations (< 2 min)")
    parser.add_argument("--duration", type=int, help="seconds per warm run (default 5, quick 1)")
    parser.add_argument("--concurrency", help="comma-separated connection counts (default 1,4,16; quick 1,16)")
    parser.add_argument("--servers", default="raw,cpp,ours", help="which of raw,cpp,ours to run (default all)")
    parser.add_argument("--plugin", help="another wsi_plugin.py to measure as ours (e.g. a patched copy)")
    parser.add_argument("--platform", choices=("host", "debian13"), default="host",
                        help="the host's Orthanc (default) or the Debian 13 root's (tests/support/debian13.py)")
    parser.add_argument("--scenarios", default="cold,warm,browser,viewer,first,prerender",
                        help="which to run (default all): cold, warm (with its browser-like rows), browser (the "
                             "other compression settings), viewer (the viewer's request mix), first (first view "
                             "of a never-seen slide), prerender (ours after pre-rendering)")
    args = parser.parse_args()
    scenarios = set(filter(None, args.scenarios.split(",")))
    if args.platform == "debian13":
        use_debian13_root()
    plan = make_plan(args.quick, args.duration, args.concurrency)
    # Both signals become exceptions, so the finally blocks stop every Orthanc (SIGINT may arrive ignored
    # when started in the background by a shell).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    folders = {"jpeg": [dicomized("jpeg", i) for i in range(plan.jpeg_copies)],
               "jpeg2000": [dicomized("jpeg2000", 0)]}
    workdir = Path(tempfile.mkdtemp(prefix="wsi-bench-"))
    try:
        slides = load_slides(folders, workdir)
        rows: list[Row] = []
        notes: list[str] = []
        kinds = args.servers.split(",")
        script = str(Path(args.plugin).resolve()) if args.plugin else OURS.script
        # orthanc-python 5.0 (Debian 13) has AllowThreads: ours off and on; 4.0 has no such option.
        threads = (False, True) if PLATFORM_ROOT is not None else (None,)
        ours = [Server("ours", False, script, allow_threads) for allow_threads in threads]
        first_view: list[str] = []
        for server in (RAW, CPP, *ours):
            if server.kind in kinds:
                if "cold" in scenarios:
                    rows += run_cold(server, slides, plan, workdir)
                if "warm" in scenarios:  # the browser-like rows of this server too (run_warm)
                    rows += run_warm(server, slides, plan, workdir, notes, plain=True)
                if "viewer" in scenarios and server.kind != "raw":
                    rows += run_viewer_mix(server, slides, plan, workdir)
                if "first" in scenarios and server.kind != "raw":
                    first_view += run_first_view(server, slides, workdir)
                if "prerender" in scenarios and server.kind == "ours":
                    j2k = next(s for s in slides if s.kind == "jpeg2000")
                    rows += run_prerendered(server, j2k, folders["jpeg2000"][0], plan, workdir, notes)
        for server in plan.browser_extra:
            if server.kind in kinds and "browser" in scenarios:  # ours as shipped (AllowThreads on where it exists)
                rows += run_warm(server if server.kind != "ours" else Server("ours", server.gzip, script, threads[-1]),
                                 slides, plan, workdir, notes, plain=False)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    where = PLATFORM_ROOT.describe() if PLATFORM_ROOT is not None else f"host {host_system()}"
    print(f"Platform: {where}; measured: " + "; ".join(f"{kind}: {text}" for kind, text in MEASURED.items()) + "\n")
    print(table(rows))
    if first_view:
        print("\nFirst view of a never-seen slide (fresh Orthanc; medians of "
              f"{FIRST_VIEW_REPEATS} starts):\n")
        print(first_view_table(first_view))
    print("\nOne warm tile, as answered plain | with Accept-Encoding: gzip, deflate:")
    for note in notes:
        print(f"- {note}")
    cold = ", ".join(f"{s.kind} {min(len(s.frames), plan.cold_limit[s.kind])}" for s in slides)
    print(f"\n{len(rows)} runs in {time.monotonic() - started:.0f} s on {os.cpu_count()} cores. Cold: tiles each "
          f"once ({cold}); warm: {plan.hot_tiles} level-0 tiles repeated for {plan.seconds} s; wrk -t min(c, 2).")


if __name__ == "__main__":
    main()
