"""Seeded, bounded fuzz of every /wsi route family against a real Orthanc on 127.0.0.1.

REQUESTS requests (paths built from valid fragments mixed with malformed ones, odd Accept headers, huge
numbers, percent-encodings, every HTTP method) over CLIENTS keep-alive connections. Every request must get
an HTTP answer (no dropped connection) that is not a 500, and no error message may show an internal
Orthanc REST path. The run stops by itself after DEADLINE_S whatever happens; a failure names the seed's
request so it can be replayed. Every advertised IIIF quality x format must answer 200.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from tests.support.orthanc_server import OrthancServer, require_orthanc
from tests.support.radiology import dicom_image
from tests.support.source import textured_image
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261203
REQUESTS = 20_000
CLIENTS = 4
DEADLINE_S = 150
# Statuses a /wsi route may answer (ours, or Orthanc's before the plugin: 404 for HEAD/OPTIONS and
# unmatched paths, 400 for PATCH or a malformed request line, 414/431 for over-long requests).
ALLOWED = {200, 303, 304, 400, 404, 405, 406, 414, 431, 501}
# An Orthanc REST path in a message of ours (our public "/wsi/iiif/series/..." has "iiif" before it).
# 500s owned by another part of issue 7 (xfail while they occur, so the test passes once they are fixed).
GREY_WEBP = "grey WebP answers 500 (imagecodecs.webp_encode on a 2-D array; fixed on branch codecs, aa5990c)"
INTERNAL_PATH = re.compile(r"(^|[\s'\"(:,])/(series|instances|studies|patients)/")
UNKNOWN = "00000000-00000000-00000000-00000000-00000000"

WEIRD = ["", ".", "..", "%2e%2e", "%00", "%0a", "-1", "0x10", "1e3", "1e400", "nan", "inf", "-0", "99999999999",
         "9" * 400, "9" * 5000, " ", "%20", "%5c", "%5C..%5C", "%2F", "%25", "%252F", "a/b", "%C3%A9", "%ff", "'",
         '"', "<script>", "full", "max", "pct:", "!", "^", ",", ",,", "0,0,0,0", "info.json", "*", "~", ";", "=",
         "viewer.html", "vendor", "..%2F..%2Fetc%2Fpasswd", "%66ull", "default.jpg%00.png", "x" * 300]
ACCEPTS = ["", "*/*", "image/png", "image/jpeg", "image/jp2;q=0.1", "image/webp", "text/html", "*/*;q=0",
           "image/*;q=abc", "image/png;q=nan", "image/png;q=inf", "image/png;q=-1", "image/png;q=1e400",
           "image/png;q=" + "9" * 3000, "image/jpeg;q=0, image/png;q=0", "image/*;q=0.5, image/jpeg;q=0.9",
           "application/json", "application/ld+json", "x" * 300, ",,,;;;", "image/png;q=0.0001;level=1"]
METHODS = ["GET"] * 24 + ["HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


@dataclass
class Targets:
    slide: str  # JPEG, with associated images
    sparse: str  # TILED_SPARSE with a hole, native (decoded, sent as PNG)
    grey_series: str  # CT frames (MONOCHROME2, 12-bit)
    grey_instances: list[str]
    rgb_instance: str
    slide_instance: str


@dataclass
class Tally:
    grey: tuple[str, ...]  # ids whose images are grey
    statuses: dict[int | str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    known: dict[str, int] = field(default_factory=dict)
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int | str, failure: str | None, path: str = "") -> None:
        known = known_bug(status, path, self.grey) if failure else None
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.done += 1
            if known:
                self.known[known] = self.known.get(known, 0) + 1
            elif failure and len(self.failures) < 30:
                self.failures.append(failure)


def known_bug(status: int | str, path: str, grey: tuple[str, ...]) -> str | None:
    """The name of another helper's known bug that explains this failure, if one does."""
    name = urllib.parse.unquote(path.split("?")[0]).rsplit("/", 1)[-1]
    quality = name.rpartition(".")[0]
    grey_image = quality in ("gray", "bitonal") or any(i in path for i in grey)
    if status == 500 and name.endswith(".webp") and grey_image:
        return GREY_WEBP
    return None


# ---- data ---------------------------------------------------------------------------------------------------

def _dicom(pixels: np.ndarray, series: str, study: str, number: int) -> bytes:
    """A CT (12-bit grey) or RGB secondary-capture instance; several frames when `pixels` is 3-D grey."""
    frames = pixels.shape[0] if pixels.dtype != np.uint8 and pixels.ndim == 3 else 1
    modality = "OT" if pixels.dtype == np.uint8 else "CT"
    return dicom_image(pixels, series=series, study=study, number=number, frames=frames, modality=modality)


def _upload(server: OrthancServer, data: bytes) -> dict:
    status, _, body = server.request("POST", "/instances", data, {"Content-Type": "application/dicom"})
    assert status == 200, body[:300]
    return json.loads(body)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory):
    require_orthanc()
    work = tmp_path_factory.mktemp("fuzz")
    image = textured_image(600, 400, seed=7)
    slide_files = write_slide(work / "slide", image, downsamples=(1, 2), associated=("LABEL", "THUMBNAIL"))
    sparse_files = write_slide(work / "sparse", image, downsamples=(1, 2), organization="TILED_SPARSE",
                               transfer_syntax="1.2.840.10008.1.2.1", holes={(0, 1, 1)})
    with OrthancServer(ROOT / "plugin" / "wsi_plugin.py", storage_dir=work / "orthanc") as server:
        slide, sparse = server.upload_series(slide_files), server.upload_series(sparse_files)
        study, series = generate_uid(), generate_uid()
        ys, xs = np.mgrid[0:96, 0:128]
        grey = [_upload(server, _dicom((864 + (3 * xs + 5 * ys) % 400).astype(np.uint16), series, study, 1)),
                _upload(server, _dicom(np.stack([(900 + (xs * f + ys) % 300).astype(np.uint16) for f in (1, 2)]),
                                       series, study, 2))]
        rgb = _upload(server, _dicom(image[:80, :120].copy(), generate_uid(), study, 1))
        slide_instance = server.get_json(f"/series/{slide}")["Instances"][0]
        yield server, Targets(slide, sparse, grey[0]["ParentSeries"], [g["ID"] for g in grey], rgb["ID"],
                              slide_instance)


# ---- request generation -------------------------------------------------------------------------------------

def _pick(rng: random.Random, valid: list[str]) -> str:
    roll = rng.random()
    if roll < 0.75:
        return rng.choice(valid)
    if roll < 0.93:
        return rng.choice(WEIRD)
    return str(rng.choice([rng.randint(-5, 70000), rng.randint(0, 3), 10 ** rng.randint(9, 40)]))


def _region(rng: random.Random) -> str:
    x, y = rng.randint(0, 700), rng.randint(0, 500)
    return rng.choice(["full", "square", f"{x},{y},{rng.randint(1, 300)},{rng.randint(1, 300)}",
                       f"pct:{rng.randint(0, 90)},{rng.randint(0, 90)},{rng.uniform(0.1, 60):.3f},{rng.randint(1, 50)}",
                       "0,0,64,64", f"pct:{'1' * rng.randint(10, 400)},0,10,10", f"{'9' * rng.randint(10, 5000)},0,1,1",
                       "pct:0,0,0,0", "-1,0,10,10", "0,0,10", "pct:1e2,0,1,1"])


def _size(rng: random.Random) -> str:
    n = rng.randint(1, 160)
    return rng.choice(["max", "^max", f"{n},", f",{n}", f"pct:{rng.randint(1, 40)}", f"!{n},{n}", f"{n},{n}",
                       f"^{n},", f"^pct:{rng.randint(50, 150)}", "pct:1e308", f"^pct:{'9' * rng.randint(10, 300)}",
                       "0,", ",0", "pct:0", f"{'9' * rng.randint(10, 5000)},", "!,", "^!5,5"])


def _rotation(rng: random.Random) -> str:
    return rng.choice(["0", "0", "90", "180", "270", "!0", "!90", "22.5", "45", "359.99", "360", "361", "1e400",
                       "3" * rng.randint(10, 500), "-90", "nan", "!"])


def _quality_format(rng: random.Random) -> str:
    quality = rng.choice(["default", "color", "gray", "bitonal", "grey", "native", ""])
    fmt = rng.choice(["jpg", "png", "webp", "tif", "gif", "pdf", "jp2", "bmp", "JPG", ""])
    return f"{quality}.{fmt}" if rng.random() > 0.03 else quality


def _image_request(rng: random.Random) -> str:
    parts = [_region(rng), _size(rng), _rotation(rng), _quality_format(rng)]
    if rng.random() < 0.15:
        parts[rng.randrange(4)] = rng.choice(WEIRD)
    if rng.random() < 0.05:
        parts.insert(rng.randrange(5), rng.choice(WEIRD))
    return "/".join(parts)


def _encode(path: str, rng: random.Random) -> str:
    """Sometimes percent-encode a few plain characters of the path (Orthanc decodes them before us)."""
    if rng.random() > 0.1:
        return path
    chars = list(path)
    for i in rng.sample(range(len(chars)), min(3, len(chars))):
        if chars[i].isalnum():
            chars[i] = f"%{ord(chars[i]):02{'X' if rng.random() < 0.5 else 'x'}}"
    return "".join(chars)


def _path(rng: random.Random, t: Targets) -> str:
    ids = [t.slide, t.slide, t.sparse, t.sparse, t.slide.upper(), t.slide[:-1], UNKNOWN, t.grey_series]
    frame_ids = [t.grey_series, t.grey_series, *t.grey_instances, t.rgb_instance, t.slide_instance, t.slide, UNKNOWN]
    family = rng.choice(["pyramids", "tiles", "tiles", "associated", "app", "iiif-tiles", "iiif-tiles",
                         "iiif-frames", "iiif-frames", "manifest", "frames-pyramids", "frames-tiles",
                         "series-frames", "iiif-frames-pyramids"])
    index = ["0", "1", "2"]
    if family == "pyramids":
        path = f"/wsi/pyramids/{_pick(rng, ids)}"
    elif family == "tiles":
        path = f"/wsi/tiles/{_pick(rng, ids)}/{_pick(rng, index)}/{_pick(rng, index)}/{_pick(rng, index)}"
        query = rng.choice(["", "", f"?optical-path={_pick(rng, ['1'])}", f"?focal-plane={_pick(rng, ['0'])}",
                            f"?focal-plane={'9' * rng.randint(1, 5000)}", "?x=1&x=2", "?optical-path=1&focal-plane=0"])
        path += query
    elif family == "associated":
        path = f"/wsi/associated/{_pick(rng, ids)}/{_pick(rng, ['label', 'thumbnail', 'overview', 'LABEL'])}"
    elif family == "app":
        path = "/wsi/app/" + "/".join(_pick(rng, ["viewer.html", "viewer.js", "viewer.css", "vendor", "osd.html"])
                                      for _ in range(rng.randint(1, 3)))
    elif family == "iiif-tiles":
        tail = rng.choice(["info.json", "", _image_request(rng), _image_request(rng), _image_request(rng)])
        path = f"/wsi/iiif/tiles/{_pick(rng, ids)}" + (f"/{tail}" if tail or rng.random() < 0.5 else "")
    elif family == "iiif-frames":
        tail = rng.choice(["info.json", "", _image_request(rng), _image_request(rng), _image_request(rng)])
        path = f"/wsi/iiif/frames/{_pick(rng, frame_ids)}/{_pick(rng, index)}" + (f"/{tail}" if tail else "")
    elif family == "frames-pyramids":
        path = f"/wsi/frames-pyramids/{_pick(rng, frame_ids)}/{_pick(rng, index)}"
    elif family == "frames-tiles":
        path = (f"/wsi/frames-tiles/{_pick(rng, frame_ids)}/{_pick(rng, index)}/{_pick(rng, index)}/"
                f"{_pick(rng, index)}/{_pick(rng, index)}")
        path += rng.choice(["", "", f"?window={_pick(rng, ['40,400', '-600.5,1500', '1e3,2'])}", "?window=",
                            f"?window={'9' * rng.randint(1, 5000)},1", "?window=nan,1", "?window=1,2&window=3,4"])
    elif family == "series-frames":
        path = f"/wsi/series-frames/{_pick(rng, ids + frame_ids)}"
    elif family == "iiif-frames-pyramids":
        tail = rng.choice(["info.json", "manifest.json", "", _image_request(rng), _image_request(rng)])
        path = f"/wsi/iiif/frames-pyramids/{_pick(rng, frame_ids)}/{_pick(rng, index)}" + (f"/{tail}" if tail else "")
    else:
        path = f"/wsi/iiif/series/{_pick(rng, ids + frame_ids)}/manifest.json"
    # A request line cannot hold spaces or control characters: clients send them percent-encoded.
    return _encode(urllib.parse.quote(path, safe="".join(map(chr, range(33, 127)))), rng)


def _requests(rng: random.Random, t: Targets, count: int) -> list[tuple[str, str, dict[str, str]]]:
    out = []
    for _ in range(count):
        headers = {}
        accept = rng.choice(ACCEPTS)
        if accept:
            headers["Accept"] = accept
        if rng.random() < 0.05:
            headers["If-None-Match"] = rng.choice(["*", '"abc"', "W/\"x\", *", "x" * 200])
        out.append((rng.choice(METHODS), _path(rng, t), headers))
    return out


# ---- the run ------------------------------------------------------------------------------------------------

def root_redirect(version: str) -> int:
    """The status Orthanc itself answers for its root, "/" (a fuzzed "/wsi/x/../.." lands there), redirecting to
    its explorer: 301 on Orthanc 1.10 (Debian 12), 307 on Orthanc 1.12 (Debian 13). Our plugin is not asked."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return 307 if (major, minor) >= (1, 12) else 301


def _problem(method: str, status: int, headers: dict[str, str], body: bytes, redirect: int) -> str | None:
    if status == redirect and headers.get("location", "").endswith("app/explorer.html"):
        return None  # Orthanc's root (see root_redirect)
    if status not in ALLOWED:
        return f"status {status}"
    if method != "HEAD" and status >= 400 and headers.get("content-type", "").startswith("text/plain"):
        text = body.decode("utf-8", "replace")
        if INTERNAL_PATH.search(text):
            return f"internal path in {text[:200]!r}"
    return None


def _client(port: int, work: list[tuple[str, str, dict[str, str]]], deadline: float, tally: Tally,
            redirect: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    last = time.monotonic()
    try:
        for method, path, headers in work:
            if time.monotonic() > deadline:
                return
            body = b"x" if method in ("POST", "PUT") else None
            for attempt in (1, 2):
                try:
                    connection.request(method, path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                    status, answer_headers = answer.status, {k.lower(): v for k, v in answer.getheaders()}
                    break
                except (http.client.HTTPException, OSError) as error:
                    connection.close()
                    # Orthanc closes a keep-alive connection idle for 1 s; that is not a dropped answer.
                    if attempt == 1 and time.monotonic() - last > 0.9:
                        continue
                    status, answer_headers, data = -1, {}, repr(error).encode()
                    break
            last = time.monotonic()
            if status == -1:
                tally.add("dropped", f"{method} {path[:300]} Accept={headers.get('Accept', '')[:60]!r}: no answer")
                continue
            problem = _problem(method, status, answer_headers, data, redirect)
            tally.add(status, problem and f"{method} {path[:300]} Accept={headers.get('Accept', '')[:60]!r}: "
                              f"{problem} {data[:200]!r}", path)
    finally:
        connection.close()


def test_fuzz_every_route_family_never_fails_the_server(fuzz_server) -> None:
    server, targets = fuzz_server
    rng = random.Random(SEED)
    work = _requests(rng, targets, REQUESTS)
    tally = Tally((targets.grey_series, *targets.grey_instances))
    redirect = root_redirect(server.get_json("/system")["Version"])
    deadline = time.monotonic() + DEADLINE_S
    started = time.monotonic()
    threads = [threading.Thread(target=_client, args=(server.port, work[i::CLIENTS], deadline, tally, redirect))
               for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S + 60)
    elapsed = time.monotonic() - started
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(tally.statuses.items(), key=lambda kv: str(kv[0])))
    print(f"\nfuzz: {tally.done} requests in {elapsed:.0f} s ({tally.done / elapsed:.0f}/s) over {CLIENTS} "
          f"keep-alive connections; statuses {summary}")
    assert not tally.failures, "\n".join(tally.failures)
    assert server.get("/system")[0] == 200  # still alive
    assert tally.done == REQUESTS, f"only {tally.done} of {REQUESTS} requests within {DEADLINE_S} s"
    for status in (200, 303, 304, 400, 404, 405, 406):
        assert tally.statuses.get(status, 0) > 0, f"the fuzz never reached a {status}: {summary}"
    if tally.known:
        pytest.xfail("; ".join(f"{count} x {bug}" for bug, count in tally.known.items()))


def test_orthanc_redirects_its_root_as_its_version_says(fuzz_server) -> None:
    """The one redirect the fuzz accepts from Orthanc itself, pinned per Orthanc version (read from /system)."""
    server, _ = fuzz_server
    status, headers, _ = server.get("/")
    assert status == root_redirect(server.get_json("/system")["Version"])
    assert headers.get("location", "").endswith("app/explorer.html")
    assert server.get("/wsi/associated/%2e%2e/%2e%2e")[0] == status  # the fuzzed path that reaches it


# ---- every advertised quality x format ----------------------------------------------------------------------

MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "tif": "image/tiff", "gif": "image/gif",
               "pdf": "application/pdf", "jp2": "image/jp2"}


def test_every_advertised_quality_and_format_is_served(fuzz_server) -> None:
    server, t = fuzz_server
    grey = (t.grey_series, *t.grey_instances)
    failures, known_failures = [], set()
    for base in (f"/wsi/iiif/tiles/{t.slide}", f"/wsi/iiif/frames/{t.grey_instances[0]}/0",
                 f"/wsi/iiif/frames/{t.grey_series}/2", f"/wsi/iiif/frames/{t.rgb_instance}/0"):
        info = server.get_json(f"{base}/info.json")
        qualities = ["default", "color", "gray", *info.get("extraQualities", [])]
        formats = ["jpg", "png", *info.get("extraFormats", [])]
        for quality in dict.fromkeys(qualities):
            for fmt in dict.fromkeys(formats):
                path = f"{base}/0,0,48,40/24,/0/{quality}.{fmt}"
                status, headers, body = server.get(path)
                if status != 200 or headers.get("content-type") != MEDIA_TYPES[fmt] or not body:
                    known = known_bug(status, path, grey)
                    if known:
                        known_failures.add(known)
                    else:
                        failures.append(f"{path}: {status} {body[:120]!r}")
    assert not failures, "\n".join(failures)
    if known_failures:
        pytest.xfail("; ".join(sorted(known_failures)))
