"""Seeded, bounded fuzz of the routes that take bodies or write files, against a real Orthanc on 127.0.0.1:
POST /wsi/annotations, POST /wsi/dicomize, the job routes and GET /wsi/export (test_fuzz.py covers the rest).

Hostile bodies (empty, truncated, deeply nested JSON, huge numbers, wrong content types, a multipart body with
broken boundaries, a truncated TIFF) and hostile ids, over CLIENTS keep-alive connections. Every request must get
an answer (no dropped connection) with a status we mean (never a 500) and a message in our words (no internal
Orthanc path); afterwards Orthanc is alive, no job is left running, and nothing was stored: none of the bodies is a
valid request.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from pathlib import Path

import pytest

from tests.integration.test_fuzz import INTERNAL_PATH, UNKNOWN, WEIRD
from tests.support.orthanc_server import OrthancServer, require_orthanc
from tests.support.source import textured_image
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261203
REQUESTS = 1500
CLIENTS = 4
DEADLINE_S = 120
# 202: a dicomize job accepted (it then fails in the background); 409: cancelling a finished job; 413: over a body
# limit; 415: a content type the route does not read; 503: the job queue or the export slot is busy.
ALLOWED = {200, 202, 400, 404, 405, 409, 411, 413, 415, 501, 503}
DEPTH = 100_000  # nesting of the deepest JSON body: far past Python's recursion limit


def _bodies(rng: random.Random) -> list[tuple[bytes, str]]:
    """(body, Content-Type) pairs, none of them a valid request."""
    deep = b"[" * DEPTH + b"]" * DEPTH
    deep_object = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
    feature = b'{"type":"Feature","geometry":{"type":"Point","coordinates":[1e400,-1e400]},"properties":{}}'
    return [
        (b"", "application/json"), (b"x", "application/json"), (b"{", "application/json"),
        (b"null", "application/json"), (b"[]", "application/json"), (b'{"type":"FeatureCollection"}', ""),
        (deep, "application/json"), (deep_object, "application/geo+json"),
        (b'{"type":"FeatureCollection","features":[' + feature + b"]}", "application/geo+json"),
        (b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon",'
         b'"coordinates":[[[0,0],[1,1]]]}}]}', "application/geo+json"),
        (b'{"annotations":' + b"9" * 5000 + b"}", "application/json"),
        (b'{"type":"FeatureCollection","features":"' + b"x" * 100_000 + b'"}', "application/json"),
        (bytes(rng.getrandbits(8) for _ in range(4096)), "application/octet-stream"),
        (b"II*\x00\x08\x00\x00\x00" + b"\xff" * 64, "image/tiff"),  # a TIFF header pointing at garbage
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image/png"),
        (b"--b\r\nContent-Type: application/json\r\n\r\n{\r\n--b", "multipart/mixed; boundary=b"),
        (b"--b\r\n\r\n", "multipart/mixed; boundary=" + "b" * 5000),
        (b"x" * 10, "multipart/mixed"),
        ("é".encode("latin-1"), "application/json; charset=latin-1"),
    ]


def _path(rng: random.Random, ids: list[str]) -> tuple[str, str]:
    """(method, path)."""
    pick = lambda: rng.choice(ids) if rng.random() < 0.7 else rng.choice(WEIRD)  # noqa: E731
    family = rng.choice(["annotations-post", "annotations-post", "annotations-get", "dicomize", "dicomize",
                         "jobs", "export"])
    if family == "annotations-post":
        return "POST", f"/wsi/annotations/{pick()}"
    if family == "annotations-get":
        return "GET", f"/wsi/annotations/{pick()}/{pick()}"
    if family == "dicomize":
        return "POST", "/wsi/dicomize"
    if family == "jobs":
        return rng.choice([("GET", f"/wsi/jobs/{pick()}"), ("POST", f"/wsi/jobs/{pick()}/cancel"),
                           ("GET", "/wsi/jobs")])
    return "GET", f"/wsi/export/{pick() if rng.random() < 0.3 else rng.choice([UNKNOWN, *WEIRD])}"


def _requests(rng: random.Random, ids: list[str]) -> list[tuple[str, str, bytes | None, dict[str, str]]]:
    bodies = _bodies(rng)
    out = []
    for _ in range(REQUESTS):
        method, path = _path(rng, ids)
        body, content_type = rng.choice(bodies) if method == "POST" else (None, "")
        headers = {"Content-Type": content_type} if content_type else {}
        if path == "/wsi/dicomize" and rng.random() < 0.3:
            headers["X-WSI-Options"] = rng.choice(["synchronous=true", "a=1&a=2", "{", '{"synchronous":' + "9" * 900
                                                   + "}", "tile-size=" + "9" * 400, "%ff%fe"])
        out.append((method, path.replace(" ", "%20"), body, headers))
    return out


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: dict[int | str, int] = {}
        self.failures: list[str] = []
        self.done = 0

    def add(self, status: int | str, failure: str | None) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            self.done += 1
            if failure and len(self.failures) < 20:
                self.failures.append(failure)


def _problem(status: int, headers: dict[str, str], body: bytes) -> str | None:
    if status not in ALLOWED:
        return f"status {status}"
    text = body.decode("utf-8", "replace")
    if status >= 400 and headers.get("content-type", "").startswith("text/plain") and INTERNAL_PATH.search(text):
        return f"internal path in {text[:200]!r}"
    return None


def _client(port: int, work: list, deadline: float, tally: Tally) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for method, path, body, headers in work:
            if time.monotonic() > deadline:
                return
            try:
                connection.request(method, path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
            except (http.client.HTTPException, OSError) as error:
                connection.close()
                # Orthanc may close a connection after refusing a body it would not read: ask once more.
                try:
                    connection.request(method, path, body=body, headers=headers)
                    answer = connection.getresponse()
                    data = answer.read()
                except (http.client.HTTPException, OSError):
                    connection.close()
                    tally.add("dropped", f"{method} {path[:200]} {headers}: no answer ({error!r})")
                    continue
            answer_headers = {k.lower(): v for k, v in answer.getheaders()}
            problem = _problem(answer.status, answer_headers, data)
            tally.add(answer.status, problem and f"{method} {path[:200]} {str(headers)[:120]} body "
                                                 f"{(body or b'')[:60]!r}: {problem} {data[:200]!r}")
    finally:
        connection.close()


@pytest.fixture(scope="module")
def write_server(tmp_path_factory: pytest.TempPathFactory):
    require_orthanc()
    work = tmp_path_factory.mktemp("fuzz-write")
    files = write_slide(work / "slide", textured_image(600, 400, seed=9), downsamples=(1, 2))
    limits = {"DicomizeMaxBodyMB": 1, "AnnotationMaxBodyMB": 1, "DicomizeMaxJobs": 2}
    with OrthancServer(ROOT / "plugin" / "wsi_plugin.py", storage_dir=work / "orthanc",
                       extra_config={"WholeSlideImaging": limits}) as server:
        slide = server.upload_series(files)
        yield server, slide


def test_write_routes_never_fail_the_server_and_store_nothing(write_server) -> None:
    server, slide = write_server
    instances = server.get_json("/instances")
    ids = [slide, instances[0], UNKNOWN]
    work = _requests(random.Random(SEED), ids)
    tally, deadline = Tally(), time.monotonic() + DEADLINE_S
    threads = [threading.Thread(target=_client, args=(server.port, work[i::CLIENTS], deadline, tally))
               for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE_S + 60)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(tally.statuses.items(), key=lambda kv: str(kv[0])))
    print(f"\nwrite-route fuzz: {tally.done} requests; statuses {summary}")
    if tally.failures:
        text = server.log_path.read_text(errors="replace")
        first = text.find("Traceback")  # the first failure's whole story
        pytest.fail("\n".join([*tally.failures, "Orthanc's log:", text[max(0, first - 400):first + 4000]]))
    assert tally.done == REQUESTS, f"only {tally.done} of {REQUESTS} requests within {DEADLINE_S} s"
    for status in (200, 400, 404):
        assert tally.statuses.get(status, 0) > 0, f"the fuzz never reached a {status}: {summary}"
    # Every dicomize job ends (failed: none of the bodies is a slide), and nothing was stored.
    until, unfinished = time.monotonic() + 60, {"Pending", "Running"}
    while time.monotonic() < until:
        states = {job["State"] for job in server.get_json("/wsi/jobs")}
        if not states & unfinished:
            break
        time.sleep(0.5)
    assert not states & unfinished, states
    assert "Success" not in states
    assert sorted(server.get_json("/instances")) == sorted(instances)
    assert server.get("/system")[0] == 200
