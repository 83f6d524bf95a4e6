"""Every status the plugin sends reaches the client whole (status, our headers, body) through a real Orthanc.

Orthanc 1.10's generic status calls refuse 301 and 405 and then drop the connection (no answer at all);
orthanc-python 4.0's SendHttpStatus takes (status, str, length). Part one drives `OrthancAdapter.answer`
with every status from a tiny probe script inside a real Orthanc; part two provokes each status through the
plugin's real routes. One keep-alive connection carries many answers, so a dropped or desynchronised
connection fails the test too.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.encaps import encapsulate

from tests.support.orthanc_server import OrthancServer, require_orthanc, script_server
from tests.support.source import textured_image
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "plugin"
UNKNOWN = "00000000-00000000-00000000-00000000-00000000"
J2K_PART2 = "1.2.840.10008.1.2.4.92"  # JPEG 2000 Part 2 multi-component: no decoder
CORS = "access-control-allow-origin"
# An internal Orthanc REST path in an answer's body (our messages say "series <id>", never "/series/<id>").
INTERNAL_PATHS = ("/series/", "/instances/", "/studies/", "/patients/")

PROBE_SCRIPT = """
import sys
sys.path.insert(0, {plugin_dir!r})
import orthanc
from wsi.adapter import OrthancAdapter
from wsi.http import Response

adapter = OrthancAdapter(orthanc)

def answer(output, uri, **request):
    status = int(request["groups"][0])
    headers = {{"Access-Control-Allow-Origin": "*", "X-Probe": "yes"}}
    if status == 303:
        headers["Location"] = "http://example.org/next"
    if status == 503:
        headers["Retry-After"] = "7"
    if status == 405:
        headers["Allow"] = "GET"
    # A 304 given a body anyway: the adapter must not send it (the connection would desynchronise).
    adapter.answer(output, Response(status, f"answer {{status}}\\n".encode(), "text/plain; charset=utf-8", headers))

orthanc.RegisterRestCallback("/status-probe/([0-9]+)", answer)
"""

SENT_STATUSES = (200, 303, 304, 400, 404, 405, 406, 413, 415, 500, 501, 502, 503)


class Client:
    """One keep-alive connection: an answer that never comes raises instead of being retried."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        self.connection.request(method, path, body=body, headers=headers or {})
        answer = self.connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()

    def close(self) -> None:
        self.connection.close()


# ---- part one: the adapter inside a real Orthanc ----------------------------------------------------------

@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory):
    require_orthanc()
    script = PROBE_SCRIPT.format(plugin_dir=str(PLUGIN_DIR))
    with script_server(tmp_path_factory.mktemp("status-probe"), script) as server:
        yield server


def test_adapter_sends_every_status_with_headers_and_body(probe: OrthancServer) -> None:
    client = Client(probe.port)
    try:
        for status in SENT_STATUSES * 2:  # twice over one connection: nothing left unread in between
            got, headers, body = client.request("GET", f"/status-probe/{status}")
            assert got == status, (status, headers, body)
            if status == 405:
                # Orthanc's dedicated call sends "Allow" and drops every other header and the body.
                assert headers.get("allow") == "GET", headers
                continue
            assert headers.get(CORS) == "*" and headers.get("x-probe") == "yes", (status, headers)
            if status == 304:
                assert body == b"" and headers.get("content-length", "0") == "0", (status, headers)
                continue
            assert body == f"answer {status}\n".encode(), (status, body)
            assert headers.get("content-type", "").startswith("text/plain"), (status, headers)
            if status == 303:
                assert headers.get("location") == "http://example.org/next", headers
            if status == 503:
                assert headers.get("retry-after") == "7", headers
    finally:
        client.close()
    assert "Please use the dedicated methods" not in probe.log_path.read_text(errors="replace")


# ---- part two: the plugin's own routes --------------------------------------------------------------------

def _rewrite(paths: list[Path], change) -> list[Path]:
    for path in paths:
        ds = pydicom.dcmread(path)
        change(ds)
        ds.save_as(path, enforce_file_format=True)
    return paths


def _corrupt_frames(ds: pydicom.Dataset) -> None:
    frames = int(ds.NumberOfFrames)
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xdb\x00\x43" + bytes(range(7, 200)) for _ in range(frames)])
    ds["PixelData"].VR = "OB"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    require_orthanc()
    work = tmp_path_factory.mktemp("statuses")
    image = textured_image(600, 400, seed=5)
    files = {
        "slide": write_slide(work / "slide", image, downsamples=(1, 2)),
        "deleted": write_slide(work / "deleted", image, downsamples=(1,)),
        "part2": write_slide(work / "part2", image, downsamples=(1,), transfer_syntax=J2K_PART2),
        "corrupt": _rewrite(write_slide(work / "corrupt", image, downsamples=(1,)), _corrupt_frames),
        "unreadable": write_slide(work / "unreadable", image, downsamples=(1,)),
    }
    with OrthancServer(PLUGIN_DIR / "wsi_plugin.py", storage_dir=work / "orthanc") as server:
        ids = {name: server.upload_series(paths) for name, paths in files.items()}
        # Storage files removed behind Orthanc's back, then a restart to empty its parsed-DICOM cache:
        # its own reads fail (502 for us, not 404).
        for instance in server.get_json(f"/series/{ids['unreadable']}")["Instances"]:
            uuid = server.get_json(f"/instances/{instance}/attachments/dicom/info")["Uuid"]
            (work / "orthanc" / "db" / uuid[:2] / uuid[2:4] / uuid).unlink()
        server.stop()
        server.start()
        client = Client(server.port)
        yield server, client, ids
        client.close()


def _check(answer: tuple[int, dict[str, str], bytes], status: int, *, cors: bool = False,
           words: str | None = None) -> None:
    got, headers, body = answer
    assert got == status, (status, got, headers, body[:300])
    if cors:
        assert headers.get(CORS) == "*", headers
    if status >= 400 and status != 405:
        text = body.decode()
        assert text.strip(), "an error answer names its problem"
        assert not any(p in text for p in INTERNAL_PATHS), text
        if words:
            assert words in text, text


def test_success_and_revalidation(served) -> None:
    _, client, ids = served
    slide = ids["slide"]
    _check(client.request("GET", f"/wsi/tiles/{slide}/0/0/0"), 200)
    _check(client.request("GET", f"/wsi/pyramids/{slide}"), 200)
    status, headers, _ = client.request("GET", f"/wsi/iiif/tiles/{slide}/info.json")
    assert status == 200 and headers[CORS] == "*"
    status, again, body = client.request("GET", f"/wsi/iiif/tiles/{slide}/info.json",
                                         {"If-None-Match": headers["etag"]})
    assert (status, body, again.get("etag"), again.get(CORS)) == (304, b"", headers["etag"], "*")
    status, headers, body = client.request("GET", f"/wsi/iiif/tiles/{slide}/full/64,/0/default.png",
                                           {"If-None-Match": "*"})
    assert (status, body, headers.get(CORS)) == (304, b"", "*")


def test_iiif_base_uri_redirects_with_303_location_and_cors(served) -> None:
    _, client, ids = served
    for base in (f"/wsi/iiif/tiles/{ids['slide']}", f"/wsi/iiif/tiles/{ids['slide']}/"):
        status, headers, body = client.request("GET", base)
        assert status == 303, (status, headers)
        assert headers["location"].endswith(f"/wsi/iiif/tiles/{ids['slide']}/info.json"), headers
        assert headers.get(CORS) == "*" and b"info.json" in body


@pytest.mark.parametrize("method", ["DELETE", "POST", "PUT"])
def test_other_methods_get_405_with_allow_on_every_route_family(served, method: str) -> None:
    _, client, ids = served
    slide = ids["slide"]
    for path in (f"/wsi/pyramids/{slide}", f"/wsi/tiles/{slide}/0/0/0", f"/wsi/associated/{slide}/label",
                 "/wsi/app/viewer.html", f"/wsi/iiif/tiles/{slide}/info.json",
                 f"/wsi/iiif/tiles/{slide}/full/max/0/default.jpg", f"/wsi/iiif/frames/{UNKNOWN}/0/info.json",
                 f"/wsi/iiif/series/{slide}/manifest.json", f"/wsi/pyramids/{UNKNOWN}"):
        status, headers, _ = client.request(method, path, body=b"x" if method != "DELETE" else None)
        assert (status, headers.get("allow")) == (405, "GET"), (method, path, status, headers)
    _check(client.request("GET", f"/wsi/pyramids/{slide}"), 200)  # the series is still there


def test_concurrent_deletes_hold_no_http_thread(served) -> None:
    """100 concurrent DELETEs (each on its own connection) are answered at once; a tile still comes quickly.

    A refused 405 used to leave each connection unanswered until Orthanc's 1 s keep-alive timeout, holding
    one of its 50 HTTP threads: a plain tile then waited about 2 s.
    """
    server, _, ids = served
    tile = f"/wsi/tiles/{ids['slide']}/0/0/0"
    statuses: list[int | str] = []

    def delete(i: int) -> None:
        try:
            statuses.append(server.request("DELETE", tile if i % 2 else f"/wsi/pyramids/{ids['slide']}")[0])
        except OSError as error:
            statuses.append(repr(error))

    threads = [threading.Thread(target=delete, args=(i,)) for i in range(100)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    tile_started = time.monotonic()
    assert server.get(tile)[0] == 200
    tile_s = time.monotonic() - tile_started
    for thread in threads:
        thread.join(30)
    assert statuses == [405] * 100
    assert time.monotonic() - started < 5 and tile_s < 0.5, (time.monotonic() - started, tile_s)


def test_head_options_and_unknown_methods_are_answered_by_orthanc(served) -> None:
    """Orthanc 1.10 answers HEAD and OPTIONS with 404 and PATCH with 400 before any plugin sees them."""
    server, _, ids = served
    tile = f"/wsi/tiles/{ids['slide']}/0/0/0"
    for method in ("HEAD", "OPTIONS", "PATCH"):
        status, _, _ = server.request(method, tile)
        assert status in (200, 404, 405, 400), (method, status)  # an answer, never a dropped connection
    assert server.request("HEAD", tile)[0] in (200, 404)


def test_bad_requests_are_400_in_our_words(served) -> None:
    _, client, ids = served
    iiif = f"/wsi/iiif/tiles/{ids['slide']}"
    for path, words in [
        (f"{iiif}/pct:{'1' * 400},0,10,10/max/0/default.jpg", "region"),
        (f"{iiif}/{'9' * 5000},0,10,10/max/0/default.jpg", "region"),
        (f"{iiif}/full/pct:1e308/0/default.jpg", "size"),
        (f"{iiif}/full/^pct:{'9' * 300}/0/default.jpg", "size"),
        (f"{iiif}/full/max/1e400/default.jpg", "rotation"),
        (f"{iiif}/full/max/{'3' * 500}/default.jpg", "rotation"),
        (f"{iiif}/full/max/0/default.bmp", "format"),
    ]:
        answer = client.request("GET", path)
        _check(answer, 400, cors=True, words=words)
        assert len(answer[2]) < 400, answer[2][:100]  # a 5000-digit number is not echoed back whole
    _check(client.request("GET", f"/wsi/tiles/{ids['slide']}/0/0/{'9' * 30}"), 400, words="y")
    _check(client.request("GET", "/wsi/tiles/not-an-id/0/0/0"), 400)


def test_unknown_resources_are_404_in_our_words(served) -> None:
    _, client, ids = served
    _check(client.request("GET", f"/wsi/pyramids/{UNKNOWN}"), 404, words=f"series {UNKNOWN}")
    _check(client.request("GET", f"/wsi/tiles/{UNKNOWN}/0/0/0"), 404, words=f"series {UNKNOWN}")
    _check(client.request("GET", f"/wsi/associated/{UNKNOWN}/label"), 404, words=UNKNOWN)
    _check(client.request("GET", f"/wsi/iiif/tiles/{UNKNOWN}/info.json"), 404, cors=True, words=UNKNOWN)
    _check(client.request("GET", f"/wsi/iiif/frames/{UNKNOWN}/0/info.json"), 404, cors=True, words=UNKNOWN)
    _check(client.request("GET", f"/wsi/iiif/series/{UNKNOWN}/manifest.json"), 404, cors=True, words=UNKNOWN)
    _check(client.request("GET", f"/wsi/tiles/{ids['slide']}/0/99/0"), 404)
    _check(client.request("GET", f"/wsi/associated/{ids['slide']}/label"), 404)


def test_odd_accept_q_values_are_not_errors(served) -> None:
    _, client, ids = served
    tile = f"/wsi/tiles/{ids['slide']}/0/0/0"
    for q in ("nan", "inf", "-inf", "-1", "1e400", "9" * 3000, "0x1p3", "", "1.0000000000001"):
        status, headers, _ = client.request("GET", tile, {"Accept": f"image/png;q={q}, image/jpeg;q=0.5"})
        assert status == 200 and headers["content-type"] in ("image/png", "image/jpeg"), (q, status)
    _check(client.request("GET", tile, {"Accept": "text/html"}), 406)
    _check(client.request("GET", f"/wsi/associated/{ids['slide']}/label", {"Accept": "image/png;q=nan"}), 404)


def test_not_implemented_transfer_syntax_is_501(served) -> None:
    _, client, ids = served
    _check(client.request("GET", f"/wsi/tiles/{ids['part2']}/0/0/0", {"Accept": "image/png"}), 501)
    _check(client.request("GET", f"/wsi/iiif/tiles/{ids['part2']}/0,0,100,100/max/0/default.png"), 501,
           cors=True)


def test_undecodable_stored_frames_are_500_with_a_message(served) -> None:
    _, client, ids = served
    # Refused by the header guards (stream_headers.py) or by the decoder itself: either names the frame.
    _check(client.request("GET", f"/wsi/tiles/{ids['corrupt']}/0/1/1", {"Accept": "image/png"}), 500,
           words="frame")
    _check(client.request("GET", f"/wsi/iiif/tiles/{ids['corrupt']}/0,0,100,100/max/0/default.png"), 500,
           cors=True, words="frame")


def test_orthanc_failing_to_read_its_storage_is_502(served) -> None:
    _, client, ids = served
    _check(client.request("GET", f"/wsi/pyramids/{ids['unreadable']}"), 502, words="Orthanc could not read")
    _check(client.request("GET", f"/wsi/iiif/tiles/{ids['unreadable']}/info.json"), 502, cors=True)


def test_a_cached_tile_of_a_deleted_series_is_404_not_500(served) -> None:
    server, client, ids = served
    tile = f"/wsi/tiles/{ids['deleted']}/0/0/0"
    _check(client.request("GET", tile), 200)
    _check(client.request("GET", tile), 200)  # now answered by the fast path
    assert server.request("DELETE", f"/series/{ids['deleted']}")[0] == 200
    # Orthanc reports the deletion to the change callback from its own thread, a moment after the DELETE
    # answers: until then the cached tile may still go out (200), never an error; then 404.
    deadline = time.monotonic() + 2
    answer = client.request("GET", tile)
    while answer[0] == 200 and time.monotonic() < deadline:
        time.sleep(0.02)
        answer = client.request("GET", tile)
    _check(answer, 404, words="series")


def test_log_has_no_refused_status(served) -> None:
    server, client, ids = served
    _check(client.request("GET", f"/wsi/pyramids/{ids['slide']}"), 200)
    log = server.log_path.read_text(errors="replace")
    assert "Please use the dedicated methods" not in log
    assert "Error in the REST callback" not in log, log[-3000:]
    json.loads(client.request("GET", f"/wsi/pyramids/{ids['slide']}")[2])


class _AuthenticatingServer(OrthancServer):
    """Sends Alice's credentials unless `anonymous` (start-up waits for /system, which needs them)."""

    anonymous = False

    def request(self, method, path, body=None, headers=None):
        token = base64.b64encode(b"alice:secret").decode()
        extra = {} if self.anonymous else {"Authorization": f"Basic {token}"}
        return super().request(method, path, body, {**extra, **(headers or {})})


def test_401_comes_from_orthancs_own_authentication(tmp_path: Path) -> None:
    """Our routes sit behind Orthanc's authentication: 401 without credentials, our answers with them."""
    config = {"AuthenticationEnabled": True, "RegisteredUsers": {"alice": "secret"}}
    with _AuthenticatingServer(PLUGIN_DIR / "wsi_plugin.py", storage_dir=tmp_path / "orthanc",
                               extra_config=config) as server:
        unknown = "/wsi/pyramids/00000000-00000000-00000000-00000000-00000000"
        server.anonymous = True
        for path in (unknown, "/wsi/iiif/tiles/00000000-00000000-00000000-00000000-00000000/info.json",
                     "/wsi/app/viewer.html"):
            status, headers, _ = server.get(path)
            assert status == 401 and "www-authenticate" in headers, (path, status, headers)
        server.anonymous = False
        status, _, body = server.get(unknown)
        assert status == 404 and b"no series" in body, (status, body[:200])


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "tif", "gif"])
def test_quarter_rotated_thin_region_is_200_in_every_format(served, fmt: str) -> None:
    """Found by the soak: a one-pixel-thin region turned a quarter reached the encoder as a strided view (500)."""
    # A connection of its own: the module's keep-alive client idles past Orthanc's 1 s keep-alive while the
    # 401 test above runs an Orthanc of its own, and Orthanc closes it.
    server, _, ids = served
    for rotation in ("90", "!270"):
        status, headers, body = server.request(
            "GET", f"/wsi/iiif/tiles/{ids['slide']}/10,10,500,4/63,/{rotation}/default.{fmt}")
        assert status == 200 and headers.get(CORS) == "*", (fmt, rotation, status, body[:200])
