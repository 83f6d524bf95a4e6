"""The entry script's callbacks with a fake `orthanc` module: every request gets an answer Orthanc accepts."""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import wsi.tiles
from fake_orthanc import FakeRestOutput

PLUGIN = Path(__file__).resolve().parents[2] / "plugin" / "wsi_plugin.py"
UNKNOWN = "00000000-00000000-00000000-00000000-00000000"


class _OrthancException(Exception):
    pass


class FakeOrthancModule(SimpleNamespace):
    """The few module-level calls the entry script makes; every REST resource is missing."""

    def __init__(self) -> None:
        super().__init__(OrthancException=_OrthancException, ChangeType=SimpleNamespace(NEW_INSTANCE=3, DELETED=1))
        self.routes: list[tuple[str, object]] = []
        self.log: list[str] = []

    def GetConfiguration(self) -> str:  # Orthanc's method names
        return json.dumps({"WholeSlideImaging": {}})

    def RestApiGet(self, uri: str) -> bytes:
        raise _OrthancException(SimpleNamespace(value=17), "Unknown resource")

    def RegisterRestCallback(self, pattern: str, callback) -> None:
        self.routes.append((pattern, callback))

    def RegisterOnChangeCallback(self, callback) -> None:
        pass

    def ExtendOrthancExplorer(self, javascript: str) -> None:
        pass

    def LogWarning(self, message: str) -> None:
        self.log.append(message)

    LogError = LogInfo = LogWarning

    def call(self, method: str, uri: str, headers: dict[str, str] | None = None) -> FakeRestOutput:
        for pattern, callback in self.routes:
            match = re.fullmatch(pattern, uri)
            if match:
                output = FakeRestOutput()
                request = {"method": method, "groups": match.groups(), "headers": headers or {}}
                request.update({"get": {}} if method == "GET" else {"body": b""} if method in ("POST", "PUT") else {})
                callback(output, uri, **request)
                return output
        raise AssertionError(f"no route for {uri}")


@pytest.fixture
def load_plugin(monkeypatch: pytest.MonkeyPatch):
    """Runs the entry script against a fresh fake `orthanc` module; restores the logging it sets up."""
    logger = logging.getLogger("wsi")
    handlers, propagate, level = list(logger.handlers), logger.propagate, logger.level

    if importlib.util.find_spec("wsi.native") is not None:
        # Binding native libraries must happen before numpy is imported: not in a test process (wsi/native.py).
        native = importlib.import_module("wsi.native")
        monkeypatch.setattr(native, "bind_to_own_libraries", lambda *args, **kwargs: [])

    def load() -> FakeOrthancModule:
        fake = FakeOrthancModule()
        monkeypatch.setitem(sys.modules, "orthanc", fake)
        spec = importlib.util.spec_from_file_location("wsi_plugin_under_test", PLUGIN)
        assert spec is not None and spec.loader is not None
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        return fake

    yield load
    logger.handlers[:], logger.propagate = handlers, propagate
    logger.setLevel(level)


@pytest.fixture
def plugin(load_plugin) -> FakeOrthancModule:
    return load_plugin()


PATHS = [f"/wsi/pyramids/{UNKNOWN}", f"/wsi/tiles/{UNKNOWN}/0/0/0", f"/wsi/associated/{UNKNOWN}/label",
         "/wsi/app/viewer.html", f"/wsi/iiif/tiles/{UNKNOWN}/info.json", f"/wsi/iiif/frames/{UNKNOWN}/0/info.json",
         f"/wsi/iiif/series/{UNKNOWN}/manifest.json"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_other_methods_get_405_on_every_route(plugin: FakeOrthancModule, method: str) -> None:
    for path in PATHS:
        output = plugin.call(method, path)
        assert output.sent == (405, {"Allow": "GET"}, b""), path


def test_unknown_series_answers_404_in_our_words(plugin: FakeOrthancModule) -> None:
    for path in PATHS[:3] + PATHS[4:]:
        output = plugin.call("GET", path)
        assert output.sent is not None, path
        status, _, body = output.sent
        assert status == 404 and UNKNOWN in body.decode() and "/series/" not in body.decode(), (path, body)


def test_a_failing_fast_path_falls_back_to_the_handler(monkeypatch: pytest.MonkeyPatch, load_plugin) -> None:
    def broken(app, uri, request):
        raise RuntimeError("fast path bug")

    monkeypatch.setitem(wsi.tiles.FAST_PATHS, wsi.tiles.get_tile, broken)
    output = load_plugin().call("GET", f"/wsi/tiles/{UNKNOWN}/0/0/0")
    assert output.sent is not None and output.sent[0] == 404


def test_an_answer_orthanc_refuses_still_ends_the_request(plugin: FakeOrthancModule) -> None:
    class Refusing(FakeRestOutput):
        def SendHttpStatus(self, status: int, *args) -> None:
            raise RuntimeError("refused")

    callback = next(c for p, c in plugin.routes if "pyramids" in p)
    output = Refusing()
    callback(output, f"/wsi/pyramids/{UNKNOWN}", method="GET", groups=(UNKNOWN,), get={}, headers={})
    assert output.sent is not None and output.sent[0] == 500
    assert any("could not send" in line for line in plugin.log)
