"""Large answers through a real Orthanc: streamed on orthanc-python 5.0 (StartStreamAnswer / SendStreamChunk),
buffered on 4.0, and the same bytes, status and headers either way (docs/ARCHITECTURE.md, "Streamed answers").

Part one drives `OrthancAdapter.answer` from a tiny probe script with bodies around the threshold and a client
that leaves mid-answer. Part two asks the plugin's IIIF routes for big renders (full/max and ^max of a lossless
slide, PNG and TIFF) from two servers, one with `StreamLargeAnswers` off: same bytes, same headers, the source's
exact pixels. Which path an answer took shows on the wire: Orthanc ends the connection after a streamed answer
(measured on 1.12.7), and keeps it for a buffered one. test_other_platform_streaming.py runs all of it on the
other platform.
"""

from __future__ import annotations

import http.client
import io
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from wsi.adapter import STREAM_CHUNK_BYTES, STREAM_MIN_BYTES

from tests.support.orthanc_server import OrthancServer, require_orthanc, script_server
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "plugin"

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"  # uncompressed: renders must equal the source exactly
SAME_HEADERS = ("access-control-allow-origin", "content-type", "etag", "cache-control", "link",
                "x-content-type-options")

PROBE_SCRIPT = """
import sys
sys.path.insert(0, {plugin_dir!r})
import orthanc
from wsi.adapter import OrthancAdapter
from wsi.http import Response

adapter = OrthancAdapter(orthanc)
PATTERN = bytes(range(251))  # a prime length: chunk boundaries never line up with it

def answer(output, uri, **request):
    size = int(request["groups"][0])
    body = (PATTERN * (size // len(PATTERN) + 1))[:size]
    headers = {{"Access-Control-Allow-Origin": "*", "ETag": '"probe"', "Cache-Control": "private, max-age=3600"}}
    adapter.answer(output, Response(200, body, "application/octet-stream", headers, stream=True))

orthanc.RegisterRestCallback("/stream-probe/([0-9]+)", answer)
"""


def _pattern(size: int) -> bytes:
    pattern = bytes(range(251))
    return (pattern * (size // len(pattern) + 1))[:size]


def streams(server: OrthancServer) -> bool:
    """Whether this Orthanc's orthanc-python has streamed answers (5.0 here; 4.0 has none)."""
    version = server.get_json("/plugins/python")["Version"]
    return tuple(map(int, version.split("."))) >= (5, 0)


def fetch(server: OrthancServer, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """One keep-alive HTTP/1.1 request on a connection of its own; headers as sent (duplicates kept)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, [(k.lower(), v) for k, v in answer.getheaders()], answer.read()
    finally:
        connection.close()


def _all(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in headers if k == name]


def _one(headers: list[tuple[str, str]], name: str) -> str:
    values = [v for k, v in headers if k == name]
    assert len(values) == 1, (name, headers)  # never two Content-Lengths, even identical ones
    return values[0]


# ---- part one: the adapter inside a real Orthanc ----------------------------------------------------------

@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    require_orthanc()
    script = PROBE_SCRIPT.format(plugin_dir=str(PLUGIN_DIR))
    with script_server(tmp_path_factory.mktemp("stream-probe"), script) as server:
        yield server


@pytest.mark.parametrize("size", [STREAM_MIN_BYTES - 1, STREAM_MIN_BYTES, 5 * STREAM_CHUNK_BYTES + 7, 20_000_003])
def test_answers_around_the_threshold_arrive_whole_with_their_headers(probe: OrthancServer, size: int) -> None:
    status, headers, body = fetch(probe, f"/stream-probe/{size}")
    assert status == 200 and len(body) == size and body == _pattern(size)
    assert _one(headers, "content-length") == str(size)
    assert _one(headers, "content-type") == "application/octet-stream"
    assert _one(headers, "access-control-allow-origin") == "*" and _one(headers, "etag") == '"probe"'
    assert _one(headers, "cache-control") == "private, max-age=3600"
    if streams(probe):  # Orthanc 1.12 adds it to buffered answers, the adapter to streamed ones (1.10: neither)
        assert _one(headers, "x-content-type-options") == "nosniff"
    streamed = streams(probe) and size >= STREAM_MIN_BYTES
    assert _one(headers, "connection").lower() == ("close" if streamed else "keep-alive"), headers


def test_a_client_leaving_mid_answer_harms_nothing(probe: OrthancServer) -> None:
    """It reads 64 kB of 50 MB and hangs up: the server keeps answering; a stream cut short ends quietly
    (no exception out of our callback: orthanc-python would log "Error in the REST callback")."""
    before = probe.log_path.read_text(errors="replace").count("Error in the network protocol")
    with socket.create_connection(("127.0.0.1", probe.port), timeout=10) as client:
        client.sendall(b"GET /stream-probe/50000000 HTTP/1.1\r\nHost: x\r\n\r\n")
        received = 0
        while received < 65536:
            received += len(client.recv(65536))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # Orthanc's write fails once the socket buffers are full
        if probe.log_path.read_text(errors="replace").count("Error in the network protocol") > before:
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"Orthanc never noticed the client had gone:\n{probe.log_tail()}")
    started = time.monotonic()
    status, _, body = fetch(probe, "/stream-probe/10")
    assert status == 200 and body == _pattern(10) and time.monotonic() - started < 5
    if streams(probe):
        assert "Error in the REST callback" not in probe.log_path.read_text(errors="replace"), probe.log_tail()


# ---- part two: big IIIF renders through the plugin's routes ------------------------------------------------

@pytest.fixture(scope="module")
def served(slide_source: np.ndarray, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[OrthancServer, OrthancServer, str]]:
    """(server streaming large answers, server with StreamLargeAnswers off, series id in both)."""
    require_orthanc()
    work = tmp_path_factory.mktemp("streaming")
    files = write_slide(work / "slide", slide_source, transfer_syntax=EXPLICIT_VR_LITTLE_ENDIAN, downsamples=(1, 4))
    plugin = PLUGIN_DIR / "wsi_plugin.py"
    public = {"OrthancPublicURL": "https://pacs.example.org/"}  # the same links from both servers
    with OrthancServer(plugin, storage_dir=work / "streaming",
                       extra_config={"WholeSlideImaging": public}) as streaming, \
            OrthancServer(plugin, storage_dir=work / "buffered",
                          extra_config={"WholeSlideImaging": {**public, "StreamLargeAnswers": False}}) as buffered:
        series = streaming.upload_series(files)
        assert buffered.upload_series(files) == series
        yield streaming, buffered, series


RENDERS = ["full/max/0/default.png", "full/max/0/default.tif", "full/^max/0/default.png",
           "full/max/0/default.jpg"]  # the JPEG is under the threshold: buffered everywhere


@pytest.mark.parametrize("render", RENDERS)
def test_big_renders_are_the_same_streamed_or_not(served, slide_source: np.ndarray, render: str) -> None:
    streaming, buffered, series = served
    path = f"/wsi/iiif/tiles/{series}/{render}"
    status, headers, body = fetch(streaming, path)
    status_b, headers_b, body_b = fetch(buffered, path)
    assert status == status_b == 200, (status, status_b, body[:200], body_b[:200])
    assert body == body_b  # one renderer: identical bytes, identical ETag
    for name in SAME_HEADERS:
        assert _all(headers, name) == _all(headers_b, name), name
    assert _one(headers, "content-length") == str(len(body))
    assert _one(headers, "access-control-allow-origin") == "*" and "max-age" in _one(headers, "cache-control")
    streamed = streams(streaming) and len(body) >= STREAM_MIN_BYTES
    assert _one(headers, "connection").lower() == ("close" if streamed else "keep-alive"), (len(body), headers)
    assert _one(headers_b, "connection").lower() == "keep-alive"  # StreamLargeAnswers off: never streamed
    if not render.endswith(".jpg"):
        assert len(body) >= STREAM_MIN_BYTES, "the render must be large enough to be streamed where possible"
        pixels = np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))
        if "^max" in render:  # IIIFMaxUpscale 2: twice the size
            assert pixels.shape == (2 * slide_source.shape[0], 2 * slide_source.shape[1], 3)
        else:
            assert np.array_equal(pixels, slide_source)  # lossless source, lossless format: exact


def test_a_streamed_render_revalidates_with_304(served) -> None:
    streaming, _, series = served
    path = f"/wsi/iiif/tiles/{series}/full/max/0/default.png"
    _, headers, _ = fetch(streaming, path)
    connection = http.client.HTTPConnection("127.0.0.1", streaming.port, timeout=60)
    try:
        connection.request("GET", path, headers={"If-None-Match": _one(headers, "etag")})
        answer = connection.getresponse()
        assert (answer.status, answer.read(), answer.getheader("Access-Control-Allow-Origin")) == (304, b"", "*")
        assert (answer.getheader("Connection") or "").lower() == "keep-alive"  # 304s are never streamed
    finally:
        connection.close()
