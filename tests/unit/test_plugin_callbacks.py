"""The real entry script (plugin/wsi_plugin.py) and adapter, run on the fake `orthanc` module of
tests/support/fake_orthanc_module.py (orthanc-python 4.0 and 5.0 call shapes): every status, header and redirect
the plugin sends is one the SDK accepts, and every request gets an answer.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import wsi.tiles
from fake_orthanc import JPEG, FakeOrthanc, tile_frames, wsi_tags
from wsi.series import WSI_SOP_CLASS

from tests.support.fake_orthanc_module import VERSIONS, FakeOrthancModule, RestOutput

PLUGIN = Path(__file__).resolve().parents[2] / "plugin" / "wsi_plugin.py"
UNKNOWN = "00000000-00000000-00000000-00000000-00000000"
J2K_PART2 = "1.2.840.10008.1.2.4.92"  # JPEG 2000 Part 2 multi-component: no decoder
INEXISTENT_FILE = 13  # orthanc.ErrorCode: a storage file gone behind Orthanc's back
CORS = "Access-Control-Allow-Origin"
INTERNAL_PATHS = ("/series/", "/instances/", "/studies/", "/patients/")

Loader = Callable[..., FakeOrthancModule]


@pytest.fixture(params=VERSIONS, ids=lambda v: f"orthanc-python-{v}")
def load_plugin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[Loader]:
    """Runs the entry script against a fresh fake `orthanc` module; restores the logging it sets up."""
    monkeypatch.chdir(tmp_path)  # the derivative cache's default folder is relative (OrthancStorage/...)
    logger = logging.getLogger("wsi")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level
    if importlib.util.find_spec("wsi.native") is not None:
        # Binding native libraries must happen before numpy is imported: not in a test process (wsi/native.py).
        native = importlib.import_module("wsi.native")
        monkeypatch.setattr(native, "bind_to_own_libraries", lambda *args, **kwargs: [])

    def load(**module_state) -> FakeOrthancModule:
        fake = FakeOrthancModule(request.param, **module_state)
        monkeypatch.setitem(sys.modules, "orthanc", fake)
        spec = importlib.util.spec_from_file_location("wsi_plugin_under_test", PLUGIN)
        assert spec is not None and spec.loader is not None
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        return fake

    yield load
    logger.handlers[:], logger.propagate = handlers, propagate
    logger.setLevel(level)


@pytest.fixture
def plugin(load_plugin: Loader) -> FakeOrthancModule:
    return load_plugin()


def _series(fake: FakeOrthanc, syntax: str = JPEG, corrupt: bool = False) -> str:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    frames = tile_frames(image, 256, JPEG)
    if syntax != JPEG or corrupt:
        frames = [b"\xff\xd8\xff\xdb\x00\x43" + bytes(range(7, 200)) for _ in frames]
    series_id, _ = fake.add_series([(wsi_tags(400, 300, 256), syntax, frames)], WSI_SOP_CLASS)
    return series_id


@pytest.fixture
def slides(load_plugin: Loader) -> tuple[FakeOrthancModule, dict[str, str]]:
    """The plugin over one fake Orthanc holding a good slide, a J2K Part 2 one, a corrupt one, an unreadable one."""
    store = FakeOrthanc()
    ids = {"slide": _series(store), "part2": _series(store, J2K_PART2), "corrupt": _series(store, corrupt=True),
           "unreadable": _series(store)}
    fake = load_plugin(resources=store.paths, failing={f"/series/{ids['unreadable']}": INEXISTENT_FILE})
    return fake, ids


def _check(output: RestOutput, status: int, *, cors: bool = False, words: str = "") -> tuple[dict[str, str], bytes]:
    assert output.sent is not None, "no answer"
    got, headers, body = output.sent
    assert got == status, (status, got, headers, body[:300])
    if cors:
        assert headers.get(CORS) == "*", headers
    if status >= 400 and status != 405:
        text = body.decode()
        assert text.strip() and words in text and not any(p in text for p in INTERNAL_PATHS), text
        assert headers["Content-Type"].startswith("text/plain"), headers
    return headers, body


PATHS = [f"/wsi/pyramids/{UNKNOWN}", f"/wsi/tiles/{UNKNOWN}/0/0/0", f"/wsi/associated/{UNKNOWN}/label",
         "/wsi/app/viewer.html", f"/wsi/iiif/tiles/{UNKNOWN}/info.json", f"/wsi/iiif/frames/{UNKNOWN}/0/info.json",
         f"/wsi/iiif/series/{UNKNOWN}/manifest.json"]


def test_the_entry_script_registers_every_route_and_the_change_callback(plugin: FakeOrthancModule) -> None:
    assert len(plugin.routes) >= len(PATHS) and len(plugin.change_callbacks) == 1
    assert plugin.explorer and any("plugin ready" in line for line in plugin.log)
    plugin.change(plugin.ChangeType.NEW_INSTANCE, 3, UNKNOWN)  # arguments as orthanc-python passes them


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_get_405_on_every_route(plugin: FakeOrthancModule, method: str) -> None:
    for path in PATHS:
        output = plugin.call(method, path, body=b"x")
        assert output.sent == (405, {"Allow": "GET"}, b""), path


def test_unknown_series_answers_404_in_our_words(plugin: FakeOrthancModule) -> None:
    for path in PATHS[:3] + PATHS[4:]:
        _check(plugin.call("GET", path), 404, cors="iiif" in path, words=UNKNOWN)


def test_success_revalidation_and_negotiation(slides) -> None:
    fake, ids = slides
    tile = f"/wsi/tiles/{ids['slide']}/0/0/0"
    headers, body = _check(fake.call("GET", tile), 200)
    assert headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    _check(fake.call("GET", tile, {"Accept": "text/html"}), 406, words="acceptable")
    headers, _ = _check(fake.call("GET", tile, {"Accept": "image/png;q=nan, image/jpeg;q=0.5"}), 200)
    assert headers["Content-Type"] == "image/png"
    headers, _ = _check(fake.call("GET", "/wsi/app/viewer.html"), 200)
    again, body = _check(fake.call("GET", "/wsi/app/viewer.html", {"If-None-Match": headers["ETag"]}), 304)
    assert body == b"" and again["ETag"] == headers["ETag"]
    info = f"/wsi/iiif/tiles/{ids['slide']}/info.json"
    headers, body = _check(fake.call("GET", info), 200, cors=True)
    assert json.loads(body)["width"] == 400 and headers["Content-Type"].startswith("application/ld+json")
    again, body = _check(fake.call("GET", info, {"If-None-Match": f'W/{headers["ETag"]}'}), 304, cors=True)
    assert body == b""


def test_the_iiif_base_uri_is_a_303_with_location_and_cors(slides) -> None:
    fake, ids = slides
    headers, body = _check(fake.call("GET", f"/wsi/iiif/tiles/{ids['slide']}"), 303, cors=True)
    assert headers["Location"].endswith(f"/wsi/iiif/tiles/{ids['slide']}/info.json") and b"info.json" in body


def test_errors_in_every_route_family(slides) -> None:
    fake, ids = slides
    iiif = f"/wsi/iiif/tiles/{ids['slide']}"
    _check(fake.call("GET", f"{iiif}/full/max/{'3' * 500}/default.jpg"), 400, cors=True, words="rotation")
    _check(fake.call("GET", f"/wsi/tiles/{ids['slide']}/0/0/{'9' * 30}"), 400, words="y")
    _check(fake.call("GET", "/wsi/app/../orthanc.json"), 400)
    _check(fake.call("GET", f"/wsi/tiles/{ids['part2']}/0/0/0", {"Accept": "image/png"}), 501)
    _check(fake.call("GET", f"/wsi/iiif/tiles/{ids['part2']}/0,0,100,100/max/0/default.png"), 501, cors=True)
    _check(fake.call("GET", f"/wsi/tiles/{ids['corrupt']}/0/0/0", {"Accept": "image/png"}), 500, words="frame")
    _check(fake.call("GET", f"/wsi/pyramids/{ids['unreadable']}"), 502, words="Orthanc could not read")
    _check(fake.call("GET", f"/wsi/iiif/tiles/{ids['unreadable']}/info.json"), 502, cors=True)


def test_a_failing_fast_path_falls_back_to_the_handler(monkeypatch: pytest.MonkeyPatch, load_plugin: Loader) -> None:
    def broken(app, uri, request):
        raise RuntimeError("fast path bug")

    monkeypatch.setitem(wsi.tiles.FAST_PATHS, wsi.tiles.get_tile, broken)
    _check(load_plugin().call("GET", f"/wsi/tiles/{UNKNOWN}/0/0/0"), 404)


def test_an_answer_orthanc_refuses_still_ends_the_request(plugin: FakeOrthancModule) -> None:
    class Refusing(RestOutput):
        def SendHttpStatus(self, *args) -> None:
            raise RuntimeError("refused")

    callback = next(c for p, c in plugin.routes if "pyramids" in p)
    output = Refusing(plugin.version)
    callback(output, f"/wsi/pyramids/{UNKNOWN}", method="GET", groups=(UNKNOWN,), get={}, headers={})
    assert output.sent is not None and output.sent[0] == 500
    assert any("could not send" in line for line in plugin.log)


def test_a_large_render_is_streamed_on_50_and_buffered_on_40(slides, monkeypatch: pytest.MonkeyPatch) -> None:
    import wsi.adapter

    monkeypatch.setattr(wsi.adapter, "STREAM_MIN_BYTES", 1000)  # the fake slide's renders are small
    monkeypatch.setattr(wsi.adapter, "STREAM_CHUNK_BYTES", 4096)
    fake, ids = slides
    path = f"/wsi/iiif/tiles/{ids['slide']}/full/max/0/default.png"
    output = fake.call("GET", path)
    headers, body = _check(output, 200, cors=True)
    assert output.streaming == (fake.version != "4.0") and len(body) > 4096
    assert headers["Content-Type"] == "image/png" and headers["ETag"] and "max-age" in headers["Cache-Control"]
    if output.streaming:
        assert headers["Content-Length"] == str(len(body)) and len(output.chunks) == -(-len(body) // 4096)
    assert not any("could not send" in line for line in fake.log)
    again = fake.call("GET", path, {"If-None-Match": headers["ETag"]})  # revalidation: never streamed
    assert _check(again, 304, cors=True)[1] == b"" and not again.streaming
