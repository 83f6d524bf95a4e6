"""Single-flight in a real Orthanc: N concurrent cold requests for one tile read and decode its frame once.

The plugin logs each frame it reads from Orthanc and each frame it decodes at debug level
(WSI_LOG_LEVEL=DEBUG, Orthanc's log level verbose); this test counts those lines.
"""

from __future__ import annotations

import http.client
import threading
from pathlib import Path

import pytest

from tests.conftest import PLUGIN_SCRIPT
from tests.support.orthanc_server import OrthancServer
from tests.support.source import textured_image
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

CLIENTS = 16
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"  # decoding a 1024-px JPEG 2000 tile takes tens of ms: the clients overlap


def get_together(port: int, path: str, headers: dict[str, str]) -> list[tuple[int, bytes]]:
    barrier = threading.Barrier(CLIENTS)
    answers: list[tuple[int, bytes]] = [(-1, b"")] * CLIENTS

    def one(n: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.connect()
        barrier.wait()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        answers[n] = (response.status, response.read())
        connection.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return answers


def plugin_lines(server: OrthancServer, text: str) -> list[str]:
    return [line for line in server.log_path.read_text(errors="replace").splitlines() if text in line]


def test_concurrent_cold_requests_for_one_tile_decode_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSI_LOG_LEVEL", "DEBUG")  # inherited by the Orthanc process
    files = write_slide(tmp_path / "slide", textured_image(2048, 1024, seed=5), tile_size=(1024, 1024),
                        downsamples=(1, 2), transfer_syntax=J2K_LOSSLESS)
    with OrthancServer(PLUGIN_SCRIPT, storage_dir=tmp_path / "orthanc") as server:
        series = server.upload_series(files)
        assert server.request("PUT", "/tools/log-level", b"verbose")[0] == 200
        assert server.get(f"/wsi/pyramids/{series}")[0] == 200  # the model is read; every frame is cold
        before_reads = len(plugin_lines(server, "wsi.frame_source: reading frame"))
        answers = get_together(server.port, f"/wsi/tiles/{series}/0/1/0", {"Accept": "image/png"})
        assert [status for status, _ in answers] == [200] * CLIENTS
        assert len({body for _, body in answers}) == 1
        reads = plugin_lines(server, "wsi.frame_source: reading frame")[before_reads:]
        decodes = plugin_lines(server, "wsi.frame_source: decoded frame")
        assert len(reads) == 1 and "reading frame 1 of instance" in reads[0], reads
        assert len(decodes) == 1, decodes
