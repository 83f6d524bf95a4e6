"""CallbackLeakRepair on real reference counts: orthanc-python 4.0's leak emulated with Py_IncRef, as its
RestCallbackHandler leaves it (one extra reference to method, groups, get and its values, headers and its values,
body), and a fixed orthanc-python (none). The real proof inside Orthanc is tests/integration/test_memory.py."""

from __future__ import annotations

import ctypes
import sys
import threading

import pytest
from wsi.callback_leak import OFF, PROBING, REPAIRING, CallbackLeakRepair

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


def make_request(n: int, method: str = "GET") -> dict:
    """Fresh objects, as orthanc-python makes them from C strings for each request."""
    return {"method": "".join([method[:1], method[1:]]), "groups": (f"series-{n}",),
            "get": {"quality": f"{n}-q"}, "headers": {"host": f"127.0.0.1:{n}", "accept": f"image/{n}"}}


def leaked(request: dict) -> list[object]:
    """The references orthanc-python 4.0 never drops."""
    objects = [request["method"], request["groups"], request["get"], request["headers"],
               *request["get"].values(), *request["headers"].values()]
    if "body" in request:
        objects.append(request["body"])
    for value in objects:
        _incref(value)
    return objects


def serve(repair: CallbackLeakRepair, request: dict, leak: bool) -> list[object]:
    """One request as orthanc-python handles it: the callback (here only `after`) gets its own kwargs dict."""
    extra = leaked(request) if leak else []
    repair.after(dict(request))
    return extra


def counts(objects: list[object]) -> list[int]:
    return [sys.getrefcount(o) for o in objects]


def test_a_leaking_orthanc_python_is_detected_and_its_references_are_given_back():
    repair = CallbackLeakRepair()
    assert repair.state == PROBING
    serve(repair, make_request(1), leak=True)
    assert repair.state == PROBING  # decided only once this thread calls again: the first request is then over
    serve(repair, make_request(2), leak=True)
    assert repair.state == REPAIRING
    request = make_request(3)
    request["body"] = bytes(1000)
    objects = [request["method"], request["groups"], request["get"], request["headers"], request["body"],
               *request["get"].values(), *request["headers"].values()]
    before = counts(objects)
    serve(repair, request, leak=True)
    assert counts(objects) == before  # every leaked reference given back, no more


def test_a_fixed_orthanc_python_is_left_alone():
    decrefs: list[object] = []
    repair = CallbackLeakRepair(decref=decrefs.append)
    for n in range(4):
        serve(repair, make_request(n), leak=False)
    assert repair.state == OFF and decrefs == []


def test_a_header_value_also_held_by_a_cache_does_not_hide_the_leak():
    repair = CallbackLeakRepair()
    first = make_request(1)
    cached = [first["headers"]["accept"]]  # e.g. part of an answer cache key
    serve(repair, first, leak=True)
    del first  # the request is over: orthanc-python's dict is gone
    serve(repair, make_request(2), leak=True)
    assert repair.state == REPAIRING and cached


@pytest.mark.parametrize("oddity", ["container held elsewhere", "two extra references"])
def test_any_other_pattern_switches_the_repair_off(oddity):
    decrefs: list[object] = []
    repair = CallbackLeakRepair(decref=decrefs.append)
    first = make_request(1)
    kept = [first["headers"]] if oddity == "container held elsewhere" else []
    extra = serve(repair, first, leak=oddity == "container held elsewhere")
    if oddity == "two extra references":
        extra = leaked(first) + leaked(first)
    del first
    serve(repair, make_request(2), leak=True)
    assert repair.state == OFF and decrefs == [] and (kept or extra)


def test_the_probe_decides_when_any_thread_calls_a_second_time():
    """A thread's first request may still be running while another thread calls; its own second call proves
    its first is over. Under load the very first thread may never be handed a connection again."""
    repair = CallbackLeakRepair()
    serve(repair, make_request(1), leak=True)
    done = threading.Event()  # threads stay alive: an ended thread's id may be given to the next one

    def first_request_then_wait(n: int, served: threading.Event) -> None:
        serve(repair, make_request(n), leak=True)
        served.set()
        done.wait(10)

    others = []
    for n in (2, 3):
        served = threading.Event()
        others.append(threading.Thread(target=first_request_then_wait, args=(n, served)))
        others[-1].start()
        assert served.wait(10) and repair.state == PROBING  # another thread's first request
    def two_requests() -> None:
        for n in (4, 5):
            serve(repair, make_request(n), leak=True)  # nothing of the first kept here: it is over

    worker = threading.Thread(target=two_requests)
    worker.start()
    worker.join()
    done.set()
    for other in others:
        other.join()
    assert repair.state == REPAIRING


def test_disabled_does_nothing():
    decrefs: list[object] = []
    repair = CallbackLeakRepair(enabled=False, decref=decrefs.append)
    for n in range(3):
        serve(repair, make_request(n), leak=True)
    assert repair.state == OFF and decrefs == []
