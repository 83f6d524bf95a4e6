#!/usr/bin/env python3
"""Deterministic profile of the tile paths, in-process: what our Python does per tile, by call counts.

    .venv/bin/python scripts/profile_cold.py [--top N] [--slide jpeg|jpeg2000] [--accept HEADER] [checkout ...]

Wall-clock rates on a shared machine are noise; call counts are not. Each checkout's entry script
(plugin/wsi_plugin.py) runs in a subprocess of its own on this checkout's fake `orthanc` module
(tests/support/fake_orthanc_module.py), which answers what Orthanc's REST API would for:

- the benchmark's JPEG slide (tests/.cache/bench/v2-jpeg-0, OrthancWSIDicomizer, made by scripts/benchmark.py), or
  with `--slide jpeg2000` its lossless JPEG 2000 one (v2-jpeg2000-0: every tile decoded and re-encoded, as PNG, or
  as lossless WebP with `--accept image/webp`),
  read with pydicom into Orthanc's `?short` JSON, file meta header, instance lists and raw frames;
- a synthetic TILED_SPARSE level of 10,000 frames (per-frame plane positions), for the model build.

Measured for each: the series model build (first GET /wsi/pyramids, REST JSON parsing included), the cold
path (every tile of the slide once, model already loaded, as the benchmark's cold run) and the warm path
(the same tiles again). Printed: function calls per tile (cProfile), CPU time (process_time, best of 3,
each on a freshly loaded plugin) and the functions with the most own time. Unknown REST URIs are listed:
an old checkout may ask Orthanc for something this fake does not serve.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import importlib
import importlib.util
import json
import pickle
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLIDES = {"jpeg": ROOT / "tests" / ".cache" / "bench" / "v2-jpeg-0",
          "jpeg2000": ROOT / "tests" / ".cache" / "bench" / "v2-jpeg2000-0"}
SLIDE = SLIDES["jpeg"]
SPARSE_FRAMES, SPARSE_TILE = 10_000, 256
WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
MAX_STRING = 256  # Orthanc leaves longer values out of its JSON (null) unless told ignore-length


# ---- what Orthanc's REST API answers (made in the parent, with pydicom) ----------------------------------
def orthanc_id(*parts: str) -> str:
    digest = hashlib.sha1("|".join(parts).encode()).hexdigest()[:40]
    return "-".join(digest[i:i + 8] for i in range(0, 40, 8))


def short_json(dataset) -> dict:
    """A pydicom dataset as Orthanc's `?short` JSON: "gggg,eeee" keys, backslash-joined values, binary null."""
    out: dict = {}
    for element in dataset:
        key = f"{element.tag.group:04x},{element.tag.element:04x}"
        if element.VR == "SQ":
            out[key] = [short_json(item) for item in element.value]
        elif element.VR in BINARY_VRS or element.value is None:
            out[key] = None
        else:
            value = element.value
            text = "\\".join(str(v) for v in value) if element.VM > 1 else str(value)
            out[key] = None if len(text) > MAX_STRING else text
    return out


def add_series(resources: dict, series_id: str, instances: list[tuple[str, dict, str, list[bytes]]],
               extra: dict[str, bytes] | None = None) -> None:
    study_id = orthanc_id(series_id, "study")
    listed = []
    for instance_id, tags, syntax, frames in instances:
        info = {"ID": instance_id, "Type": "Instance", "ParentSeries": series_id, "FileUuid": orthanc_id(instance_id),
                "FileSize": sum(map(len, frames)), "IndexInSeries": len(listed) + 1,
                "MainDicomTags": {"SOPInstanceUID": instance_id}}
        listed.append(info)
        resources[f"/instances/{instance_id}"] = json.dumps(info).encode()
        body = json.dumps(tags).encode()
        resources[f"/instances/{instance_id}/tags?short"] = body
        resources[f"/instances/{instance_id}/tags?short&ignore-length=0028-3006"] = body
        resources[f"/instances/{instance_id}/header?short"] = json.dumps({"0002,0010": syntax}).encode()
        resources[f"/instances/{instance_id}/metadata/SopClassUid"] = WSI_SOP_CLASS.encode()
        resources[f"/instances/{instance_id}/metadata/TransferSyntax"] = syntax.encode()
        for n, frame in enumerate(frames):
            resources[f"/instances/{instance_id}/frames/{n}/raw"] = frame
    resources[f"/series/{series_id}"] = json.dumps({
        "ID": series_id, "Type": "Series", "ParentStudy": study_id, "Instances": [i["ID"] for i in listed],
        "MainDicomTags": {"Modality": "SM"}}).encode()
    resources[f"/series/{series_id}/instances"] = json.dumps(listed).encode()
    resources[f"/studies/{study_id}"] = json.dumps({"MainDicomTags": {}, "PatientMainDicomTags": {}}).encode()
    resources.update(extra or {})


def slide_resources(resources: dict) -> tuple[str, list[str]]:
    """The benchmark's JPEG slide; returns its series id and every tile path."""
    import pydicom
    from pydicom.encaps import generate_frames

    series_id, instances, extra, paths = orthanc_id("slide"), [], {}, []
    levels = []
    for file in sorted(SLIDE.glob("*.dcm")):
        ds = pydicom.dcmread(file)
        instance_id = orthanc_id(str(ds.SOPInstanceUID))
        count = int(getattr(ds, "NumberOfFrames", 1))
        frames = list(generate_frames(ds.PixelData, number_of_frames=count))
        tags = short_json(ds)
        tags["7fe0,0010"] = None
        instances.append((instance_id, tags, str(ds.file_meta.TransferSyntaxUID), frames))
        for index, item in enumerate(getattr(ds, "OpticalPathSequence", [])):
            if "ICCProfile" in item:
                extra[f"/instances/{instance_id}/content/0048-0105/{index}/0028-2000"] = bytes(item.ICCProfile)
        levels.append((int(ds.TotalPixelMatrixColumns), int(ds.TotalPixelMatrixRows), int(ds.Columns),
                       int(ds.Rows)))
    add_series(resources, series_id, instances, extra)
    for z, (width, height, tile_w, tile_h) in enumerate(sorted(set(levels), reverse=True)):
        paths += [f"/wsi/tiles/{series_id}/{z}/{x}/{y}" for y in range(-(-height // tile_h))
                  for x in range(-(-width // tile_w))]
    return series_id, paths


def sparse_resources(resources: dict) -> str:
    """One TILED_SPARSE instance of SPARSE_FRAMES frames with per-frame positions (tags only)."""
    side = int(SPARSE_FRAMES ** 0.5)
    size = side * SPARSE_TILE
    tags = {
        "0008,0008": "ORIGINAL\\PRIMARY\\VOLUME\\NONE", "0008,0016": WSI_SOP_CLASS,
        "0020,9311": "TILED_SPARSE", "0028,0002": "3", "0028,0004": "YBR_FULL_422",
        "0028,0008": str(SPARSE_FRAMES), "0028,0010": str(SPARSE_TILE), "0028,0011": str(SPARSE_TILE),
        "0028,0100": "8", "0028,0101": "8", "0028,0103": "0",
        "0048,0001": str(size * 0.00025), "0048,0002": str(size * 0.00025),
        "0048,0006": str(size), "0048,0007": str(size), "0048,0303": "1",
        "0048,0105": [{"0048,0106": "1", "0048,0107": "brightfield", "0028,2000": None}],
        "5200,9229": [{"0028,9110": [{"0028,0030": "0.00025\\0.00025", "0018,0050": "1"}],
                       "0048,0207": [{"0048,0106": "1"}]}],
        "5200,9230": [{"0020,9111": [{"0020,9157": f"{c + 1}\\{r + 1}"}],
                       "0048,021a": [{"0040,072a": str(c * 0.064), "0040,073a": str(r * 0.064),
                                      "0040,074a": "0", "0048,021e": str(c * SPARSE_TILE + 1),
                                      "0048,021f": str(r * SPARSE_TILE + 1)}]}
                      for r in range(side) for c in range(side)],
    }
    series_id = orthanc_id("sparse")
    add_series(resources, series_id, [(orthanc_id("sparse", "0"), tags, "1.2.840.10008.1.2.4.50", [])])
    return series_id


# ---- one checkout, in a process of its own --------------------------------------------------------------
class Recorded(dict):
    """REST resources by URI; remembers the URIs asked for that it does not hold."""

    missing: set[str]

    def __contains__(self, uri: object) -> bool:
        found = dict.__contains__(self, uri)
        if not found:
            self.missing.add(str(uri))
        return found


def load_plugin(checkout: Path, resources: dict):
    from tests.support.fake_orthanc_module import FakeOrthancModule

    # No derivative cache: every cold round decodes (it would otherwise write into ./OrthancStorage).
    section = {"SeriesCheckSeconds": 3600, "DerivativeCacheSizeMB": 0}
    fake = FakeOrthancModule("4.0", {"WholeSlideImaging": section}, resources)
    sys.modules["orthanc"] = fake
    if importlib.util.find_spec("wsi.native") is not None:  # binding must precede numpy: not in this process
        importlib.import_module("wsi.native").bind_to_own_libraries = lambda *args, **kwargs: []
    spec = importlib.util.spec_from_file_location("wsi_plugin_profiled", checkout / "plugin" / "wsi_plugin.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    return fake


ACCEPT: dict[str, str] = {}


def get(fake, uri: str) -> int:
    output = fake.call("GET", uri, ACCEPT if uri.startswith("/wsi/tiles/") else None)
    if output.sent is None or output.sent[0] != 200:
        raise SystemExit(f"{uri}: {output.sent and output.sent[:2]} {output.sent and output.sent[2][:200]!r}")
    return len(output.sent[2])


def child(checkout: Path, data: Path, top: int) -> None:
    sys.path[:0] = [str(checkout / "plugin"), str(ROOT)]
    with open(data, "rb") as f:
        stored, slide, sparse, paths, accept = pickle.load(f)
    if accept:
        ACCEPT["Accept"] = accept
    resources = Recorded(stored)
    resources.missing = set()

    def fresh():
        return load_plugin(checkout, resources)

    def measure(title: str, setup, run, count: int, unit: str) -> None:
        cpu = []
        for _ in range(3):
            state = setup()
            started = time.process_time()
            run(state)
            cpu.append(time.process_time() - started)
        state = setup()
        profile = cProfile.Profile()
        profile.runcall(run, state)
        stats = pstats.Stats(profile)
        print(f"{title}: {stats.total_calls / count:,.0f} calls per {unit}, "
              f"CPU {min(cpu) / count * 1e3:.3f} ms per {unit} (best of 3: {', '.join(f'{c:.3f}' for c in cpu)} s)")
        if top:
            rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
            for (file, line, name), (_, calls, own, total, _) in rows:
                where = f"{Path(file).parent.name}/{Path(file).name}:{line}" if line else file
                print(f"    {calls / count:9.2f} calls  own {own / count * 1e6:8.1f} us  "
                      f"cum {total / count * 1e6:8.1f} us  {name}  ({where})")

    measure("sparse model build (10,000 frames)", fresh, lambda fake: get(fake, f"/wsi/pyramids/{sparse}"), 1,
            "build")
    measure(f"slide model build ({len(paths)} tiles)", fresh, lambda fake: get(fake, f"/wsi/pyramids/{slide}"), 1,
            "build")

    def loaded():
        fake = fresh()
        get(fake, f"/wsi/pyramids/{slide}")  # as the benchmark: cold runs time tiles, not metadata
        return fake

    def every_tile(fake) -> None:
        for path in paths:
            get(fake, path)

    def warmed():
        fake = loaded()
        every_tile(fake)
        return fake

    measure("cold tile", loaded, every_tile, len(paths), "tile")
    measure("warm tile", warmed, every_tile, len(paths), "tile")
    if resources.missing:
        print(f"    URIs the fake does not serve: {sorted(resources.missing)[:10]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkouts", nargs="*", type=Path, default=[ROOT])
    parser.add_argument("--top", type=int, default=12, help="functions listed by own time (0: none)")
    parser.add_argument("--slide", choices=sorted(SLIDES), default="jpeg", help="the benchmark slide to serve")
    parser.add_argument("--accept", default="", help="Accept header of the tile requests (default: none)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child.resolve(), args.data, args.top)
        return
    global SLIDE
    SLIDE = SLIDES[args.slide]
    if not SLIDE.is_dir():
        raise SystemExit(f"{SLIDE} is missing: scripts/benchmark.py --quick makes it")
    resources: dict = {}
    slide, paths = slide_resources(resources)
    sparse = sparse_resources(resources)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "resources.pickle"
        data.write_bytes(pickle.dumps((resources, slide, sparse, paths, args.accept)))
        for checkout in args.checkouts:
            rev = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%h %s"], capture_output=True,
                                 text=True).stdout.strip()
            print(f"== {checkout} ({rev[:70]})", flush=True)
            subprocess.run([sys.executable, __file__, "--child", str(checkout), "--data", str(data),
                            "--top", str(args.top)], check=True)


if __name__ == "__main__":
    main()
