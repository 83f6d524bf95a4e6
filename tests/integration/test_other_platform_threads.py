"""Eight concurrent clients against our plugin on the other platform's Orthanc, AllowThreads on.

On Debian 13 (orthanc-python 5.0, from a Debian 12 host) the option is honoured; on Debian 12 (4.0, from a Debian 13
host) it is ignored and the same clients check our plugin under Orthanc's own HTTP threads, the GIL held in every
callback (test_the_option_is_honoured_in_the_root measures which). With AllowThreads the GIL is released during
Orthanc SDK calls, so our caches, series models, lazy imports and change callback really run concurrently. For a
bounded time, 8 clients (one keep-alive connection each) ask for tiles of every level, IIIF renders, pyramids and
error cases of slides in several encodings, with caches small enough to evict all the time, while a ninth thread
uploads and deletes a series (the change callback). Every answer must be byte for byte the one a lone client gets
from another Orthanc holding the same slides. test_change_under_load.py (8 clients while series are deleted and
stored again) is collected here again too.
"""

from __future__ import annotations

import http.client
import http.server
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import PLUGIN_SCRIPT
from tests.integration.test_change_under_load import test_delete_and_store_again_under_load  # noqa: F401
from tests.support.orthanc_server import OrthancServer
from tests.support.other_platform import PlatformRoot
from tests.support.source import textured_image
from tests.support.writer import write_slide

# on_other_platform: the imported test starts its Orthanc without a root (with AllowThreads on, as every server there).
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]

CLIENTS = 8
DURATION_S = 12
SLIDES = ("ours-jpeg", "ours-explicit", "ours-npot", "ours-sparse", "dicomizer-jpeg2000")
UNKNOWN = "00000000-00000000-00000000-00000000-00000000"


def _paths(server: OrthancServer, series: str) -> list[str]:
    """Every tile of every level, some IIIF renders, the pyramid: what a viewer and IIIF clients ask."""
    pyramid = server.get_json(f"/wsi/pyramids/{series}")
    paths = [f"/wsi/pyramids/{series}"]
    for z, (columns, rows) in enumerate(pyramid["TilesCount"]):
        paths += [f"/wsi/tiles/{series}/{z}/{x}/{y}" for y in range(rows) for x in range(columns)]
    iiif = f"/wsi/iiif/tiles/{series}"
    paths += [f"{iiif}/full/200,/0/default.jpg", f"{iiif}/100,50,500,300/max/0/default.png",
              f"{iiif}/0,0,256,256/128,/90/gray.png", f"{iiif}/pct:10,10,50,50/!300,300/0/default.jpg"]
    return paths


def _expected_errors(series: str) -> dict[tuple[str, str], int]:
    return {("GET", f"/wsi/tiles/{series}/0/99/0"): 404, ("GET", f"/wsi/tiles/{series}/x/0/0"): 400,
            ("GET", f"/wsi/pyramids/{UNKNOWN}"): 404, ("DELETE", f"/wsi/tiles/{series}/0/0/0"): 405,
            ("GET", f"/wsi/iiif/tiles/{series}/full/max/0/default.bmp"): 400}


class _Client(threading.Thread):
    def __init__(self, port: int, work: list[tuple[str, str, int, bytes | None]], seed: int, deadline: float,
                 volatile: list[str]) -> None:
        super().__init__(daemon=True)
        self.port, self.work, self.deadline, self.volatile = port, work, deadline, volatile
        self.random = random.Random(seed)
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            while time.monotonic() < self.deadline and len(self.failures) < 5:
                if self.volatile and self.random.random() < 0.05:  # the series another thread adds and deletes
                    method, path, allowed, body = "GET", f"/wsi/pyramids/{self.volatile[0]}", (200, 404), None
                else:
                    method, path, status, body = self.random.choice(self.work)
                    allowed = (status,)
                try:
                    connection.request(method, path, body=b"x" if method in ("POST", "PUT") else None)
                    answer = connection.getresponse()
                    got = answer.read()
                except (OSError, http.client.HTTPException) as error:
                    self.failures.append(f"{method} {path}: {error!r}")
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                    continue
                self.counts[str(answer.status)] += 1
                if answer.status not in allowed:
                    self.failures.append(f"{method} {path}: {answer.status} {got[:200]!r}")
                elif body is not None and got != body:
                    self.failures.append(f"{method} {path}: {len(got)} bytes, not the lone client's {len(body)}")
        finally:
            connection.close()


def _churn(server: OrthancServer, files: list[Path], deadline: float, volatile: list[str],
           failures: list[str]) -> None:
    """Upload and delete one series over and over: Orthanc's change callback runs while clients read."""
    rounds = 0
    while time.monotonic() < deadline:
        try:
            series = server.upload_series(files)
            volatile[:] = [series]
            time.sleep(0.3)
            status = server.request("DELETE", f"/series/{series}")[0]
            if status != 200:
                failures.append(f"DELETE /series/{series}: {status}")
            rounds += 1
        except (AssertionError, OSError) as error:
            failures.append(f"churn: {error!r}")
            return
    if rounds < 3:
        failures.append(f"churn: only {rounds} upload/delete rounds")


def test_eight_clients_with_allow_threads_get_what_a_lone_client_gets(
        other_root: PlatformRoot, orthanc_other: OrthancServer, slides_other: dict[str, str],
        standard_slides: dict[str, list[Path]], tmp_path: Path) -> None:
    root = other_root.with_config({"Python": {"AllowThreads": True}})
    # 1 MB of caches: a quarter MB of decoded tiles, so entries are evicted while other threads read them.
    config = {"WholeSlideImaging": {"CacheSizeMB": 1, "SeriesCheckSeconds": 0}}
    with OrthancServer(PLUGIN_SCRIPT, root=root, storage_dir=tmp_path / "orthanc", extra_config=config) as server:
        work: list[tuple[str, str, int, bytes | None]] = []
        for name in SLIDES:
            series = slides_other[name]
            assert server.upload_series(standard_slides[name]) == series  # same files, same Orthanc ids
            for path in _paths(orthanc_other, series):
                # A lone client, on another Orthanc; the pyramid names the series' version (its stored files,
                # which each Orthanc names itself): a lone client of this one.
                status, _, body = (server if path.startswith("/wsi/pyramids/") else orthanc_other).get(path)
                assert status == 200, (path, status, body[:200])
                work.append(("GET", path, 200, body))
            work += [(method, path, status, None) for (method, path), status in _expected_errors(series).items()]
        volatile: list[str] = []
        churn_failures: list[str] = []
        deadline = time.monotonic() + DURATION_S
        churn_files = write_slide(tmp_path / "churn", textured_image(300, 200, seed=9), downsamples=(1,))
        churn = threading.Thread(target=_churn, args=(server, churn_files, deadline, volatile, churn_failures),
                                 daemon=True)
        clients = [_Client(server.port, work, seed, deadline, volatile) for seed in range(CLIENTS)]
        for thread in (churn, *clients):
            thread.start()
        for thread in (churn, *clients):
            thread.join(DURATION_S + 60)
            assert not thread.is_alive(), "a client is stuck: a request hangs"
        failures = churn_failures + [f for client in clients for f in client.failures]
        counts = sum((client.counts for client in clients), Counter())
        assert not failures, failures[:10]
        assert counts["200"] > 50 * CLIENTS, counts  # every client kept busy for the whole time
        assert server.get(f"/wsi/pyramids/{slides_other['ours-jpeg']}")[0] == 200
        log = server.log_path.read_text(errors="replace")
    assert server.returncode == 0, f"Orthanc ended with {server.returncode}:\n{server.log_tail()}"
    assert "Traceback" not in log and "Error in the REST callback" not in log, log[-3000:]
    print(f"\n{CLIENTS} clients x {DURATION_S} s, AllowThreads on, {other_root.describe()}: {dict(counts)}")


# ---- the option itself ----------------------------------------------------------------------------------

ALLOW_THREADS_PROBE = """
import orthanc

def slow(output, uri, **request):
    orthanc.HttpGet({url!r}, "", "")  # an SDK call that takes a second (Orthanc's HTTP client)
    output.AnswerBuffer(b"slow", "text/plain")

def quick(output, uri, **request):
    output.AnswerBuffer(b"quick", "text/plain")

orthanc.RegisterRestCallback("/probe/slow", slow)
orthanc.RegisterRestCallback("/probe/quick", quick)
"""


class _SlowAnswer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(1)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("allow_threads", [True, False], ids=["AllowThreads-on", "AllowThreads-off"])
def test_the_option_is_honoured_in_the_root(other_root: PlatformRoot, tmp_path: Path, allow_threads: bool) -> None:
    """With AllowThreads on, a Python callback answers while another waits in an SDK call; off, it waits too.
    orthanc-python before 4.3 (Debian 12's 4.0) ignores the option: there it waits in both cases.

    What makes the tests above concurrent for real: the option name and section are the ones orthanc-python 5.0
    reads (it does not log them).
    """
    slow_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowAnswer)
    threading.Thread(target=slow_server.serve_forever, daemon=True).start()
    script = tmp_path / "probe.py"
    script.write_text(ALLOW_THREADS_PROBE.format(url=f"http://127.0.0.1:{slow_server.server_port}/"))
    root = other_root.with_config({"Python": {"AllowThreads": allow_threads}})
    try:
        with OrthancServer(script, root=root, storage_dir=tmp_path / "orthanc") as server:
            slow_answers: list[tuple[int, float]] = []

            def ask_slow() -> None:
                begun = time.monotonic()
                slow_answers.append((server.get("/probe/slow")[0], time.monotonic() - begun))

            slow = threading.Thread(target=ask_slow)
            slow.start()
            time.sleep(0.3)  # the slow callback is inside HttpGet now
            started = time.monotonic()
            assert server.get("/probe/quick")[0] == 200
            quick_s = time.monotonic() - started
            slow.join(10)
            log = server.log_tail()
    finally:
        slow_server.shutdown()
    assert slow_answers and slow_answers[0][0] == 200 and slow_answers[0][1] > 0.9, (slow_answers, log)
    if allow_threads and other_root.platform.allow_threads:
        assert quick_s < 0.3, f"the quick callback waited {quick_s:.2f} s for the GIL"
    else:
        assert quick_s > 0.4, (f"the quick callback did not wait ({quick_s:.2f} s) on orthanc-python "
                               f"{other_root.platform.orthanc_python}: is the GIL released anyway?")
