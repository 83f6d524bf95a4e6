"""Time and peak memory of the DICOM-izer on a large BigTIFF: through POST /wsi/dicomize into a test Orthanc
and through the command into a folder. The slide is made here (JPEG tiles of noise: about 150 kB a tile, the
hardest case for size), once per size, under /tmp.

    .venv/bin/python scripts/measure_dicomize.py --mb 512 [--route] [--command]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TILE = 512


def make_bigtiff(path: Path, megabytes: int) -> tuple[int, int]:
    """A flat BigTIFF of JPEG tiles (no pyramid: every lower level must be generated), about `megabytes`."""
    rng = np.random.default_rng(1)
    blocks = [np.clip(rng.normal(160, 40, (TILE, TILE, 3)), 0, 255).astype(np.uint8) for _ in range(8)]
    probe = path.with_suffix(".probe.tif")
    tifffile.imwrite(probe, blocks[0], tile=(TILE, TILE), compression="jpeg", compressionargs={"level": 90})
    per_tile = probe.stat().st_size
    probe.unlink()
    side = int((megabytes * 1e6 / per_tile) ** 0.5) * TILE
    if path.exists():
        return side, side
    count = (side // TILE) ** 2

    def tiles():
        for index in range(count):
            yield blocks[index % len(blocks)]

    tifffile.imwrite(path, tiles(), shape=(side, side, 3), dtype=np.uint8, tile=(TILE, TILE), bigtiff=True,
                     compression="jpeg", compressionargs={"level": 90}, photometric="rgb", maxworkers=2,
                     description=f"Aperio Image Library v12.0.15\r\n{side}x{side} ({TILE}x{TILE})|MPP = 0.25")
    return side, side


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def through_route(path: Path) -> dict:
    from tests.support.orthanc_server import OrthancServer

    body = path.read_bytes()
    config = {"WholeSlideImaging": {"DicomizeMaxBodyMB": 4096}}
    with tempfile.TemporaryDirectory() as folder, OrthancServer(ROOT / "plugin" / "wsi_plugin.py",
                                                               storage_dir=Path(folder), extra_config=config) as s:
        baseline = _vm_rss_mb(s.pid)
        peak = [baseline]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _vm_rss_mb(s.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", s.port, timeout=3600)
        connection.request("POST", "/wsi/dicomize", body=body, headers={"X-WSI-Options": "synchronous=true"})
        response = connection.getresponse()
        status, answer = response.status, response.read()
        connection.close()
        del body
        elapsed = time.monotonic() - start
        stop.set()
        sampler.join()
        job = json.loads(answer) if status == 200 else {"error": answer[:300]}
        return {"status": status, "seconds": round(elapsed, 1), "orthanc_rss_baseline_mb": round(baseline),
                "orthanc_rss_peak_mb": round(max(peak[0], _vm_hwm_mb(s.pid))),
                "instances": len(job.get("Instances", [])), "levels": job.get("Levels")}


def through_command(path: Path) -> dict:
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryFile() as errors:
        start = time.monotonic()
        # The interpreter itself, its VmHWM sampled while it runs: getrusage's maxrss of a child keeps the
        # parent's size at fork time (Linux carries the high-water mark over exec), so it is not used.
        process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "python"), "-m", "wsi.dicomize", str(path),
                                    "--folder", folder, "--quiet"], stdout=subprocess.DEVNULL, stderr=errors,
                                   env={**os.environ, "PYTHONPATH": str(ROOT / "plugin")})
        peak = 0.0
        while process.poll() is None:
            with contextlib.suppress(OSError):
                peak = max(peak, _vm_hwm_mb(process.pid))
            time.sleep(0.05)
        elapsed = time.monotonic() - start
        written = sum(p.stat().st_size for p in Path(folder).iterdir())
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    return {"returncode": process.returncode, "seconds": round(elapsed, 1),
            "peak_rss_mb": round(peak), "written_mb": round(written / 1e6), "stderr": stderr[-300:]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=512)
    parser.add_argument("--route", action="store_true")
    parser.add_argument("--command", action="store_true")
    args = parser.parse_args()
    path = Path(tempfile.gettempdir()) / f"wsi-measure-{args.mb}mb.tif"
    start = time.monotonic()
    side = make_bigtiff(path, args.mb)
    print(json.dumps({"slide": str(path), "bytes": path.stat().st_size, "pixels": side,
                      "made_in_s": round(time.monotonic() - start, 1)}), flush=True)
    if args.command:
        print(json.dumps({"command": through_command(path)}), flush=True)
    if args.route:
        print(json.dumps({"route": through_route(path)}), flush=True)


if __name__ == "__main__":
    main()
