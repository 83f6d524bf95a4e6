"""CallbackLeakRepair: gives back the references orthanc-python 4.0 keeps to every REST request's arguments.

orthanc-python before 4.1 (Debian 12 ships 4.0) builds a callback's keyword arguments with
`PyDict_SetItemString(kw, name, obj.Release())`: the dict takes a reference of its own and the released one is
never dropped. So `method`, `groups`, `get` and each of its values, `headers` and each of its values, and a
POST's or PUT's `body` stay in memory after every request (fixed upstream in 4.1: "Fix memory leaks when a
python script calls orthanc.RestApiPost() and sibling methods"). Measured in the soak: about 7 objects, 480 bytes
per GET (tracemalloc, allocations without a Python frame), 12 MB a minute at 400 requests/s, and a leaked POST
keeps its whole body.

The leak is observed, not assumed from a version number. The arguments of each HTTP thread's first request are
kept; when one of those threads calls again, its first request is over and orthanc-python has dropped every
reference it was going to drop. Their reference counts then say whether it kept exactly one reference to each
object (any thread's, not only the first one's: under load a thread may never be handed a connection again).
Only then is the repair switched on: from there each callback drops that one extra reference of its own
arguments as it returns, so they are freed with orthanc-python's dict. Any other pattern (a fixed
orthanc-python shows no extra reference) switches it off for good.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# The arguments orthanc-python builds (its RestCallbackHandler); `groups`' items are stolen by the tuple, not leaked.
_LEAKED = ("method", "groups", "get", "headers", "body")
_WITH_VALUES = ("get", "headers")
_TYPES = (str, tuple, dict, bytes)

PROBING, REPAIRING, OFF = "probing", "repairing", "off"
MAX_PROBES = 1024  # threads whose first request is kept (Orthanc's HttpThreadsCount is 50 by default)


def _py_decref() -> Callable[[object], None] | None:
    try:
        decref = ctypes.pythonapi.Py_DecRef
    except AttributeError:  # no Python C API in the process's global symbols
        return None
    decref.argtypes = [ctypes.py_object]
    decref.restype = None
    return decref


class CallbackLeakRepair:
    """`after(request)` at the end of every REST callback, with the callback's keyword arguments."""

    def __init__(self, enabled: bool = True, decref: Callable[[object], None] | None = None) -> None:
        self._decref = decref or _py_decref()
        self.state = PROBING if enabled and self._decref is not None else OFF
        self._lock = threading.Lock()
        self._probes: dict[int, list[tuple[object, int]]] = {}  # thread -> [(object, its other holders)]

    def after(self, request: dict) -> None:
        if self.state == REPAIRING:
            self._repair(request)
        elif self.state == PROBING:
            with self._lock:
                self._step(request)

    def _repair(self, request: dict) -> None:
        for name in _WITH_VALUES:
            values = request.get(name)
            if type(values) is dict:
                for value in values.values():
                    if type(value) is str:
                        self._decref(value)
        for name in _LEAKED:
            value = request.get(name)
            if type(value) in _TYPES:
                self._decref(value)

    def _step(self, request: dict) -> None:
        if self.state != PROBING:
            return
        me = threading.get_ident()
        objects = self._probes.pop(me, None)
        if objects is None:  # this thread's first request: kept until the thread calls again
            if len(self._probes) < MAX_PROBES:
                self._probes[me] = _probe_objects(request)
            return
        self._probes.clear()
        extra = _extra_references(objects)
        # Containers and the method string are ours alone once the request is over: exactly 1 means leaked. A
        # header or query value may also be held by a cache key (1 or more), but one never cached must show 1.
        own = [n for (_, holders), n in zip(objects, extra, strict=True) if holders == 0]
        values = [n for (_, holders), n in zip(objects, extra, strict=True) if holders == 1]
        if own and all(n == 1 for n in own) and all(n >= 1 for n in values) and (not values or min(values) == 1):
            self.state = REPAIRING
            log.warning("orthanc-python keeps a reference to every request's arguments (a leak of versions "
                        "before 4.1): the plugin gives them back (WholeSlideImaging.RepairCallbackLeak)")
        else:
            self.state = OFF
            # A warning as the other verdict: administrators see which one their Orthanc got, once.
            log.warning("orthanc-python frees every request's arguments: no repair needed (extra references: %s)",
                        extra[:8])


def _probe_objects(request: dict) -> list[tuple[object, int]]:
    """The objects orthanc-python made for this request, each with how many of them hold it besides the leak."""
    objects: list[tuple[object, int]] = []
    for name in _LEAKED:
        value = request.get(name)
        if type(value) in _TYPES:
            objects.append((value, 0))
        if name in _WITH_VALUES and type(value) is dict:
            # One-character and empty strings are shared singletons: their counts say nothing.
            objects.extend((v, 1) for v in value.values() if type(v) is str and len(v) > 1)
    return objects


def _extra_references(objects: list[tuple[object, int]]) -> list[int]:
    """References to each probed object beyond our list and its known holders (1 each where leaked)."""
    counts = []
    # A control held only by this list, counted the same way: the count with nothing extra.
    for value, holders in [(object(), 0), *objects]:
        counts.append(sys.getrefcount(value) - holders)
    base, *rest = counts
    return [n - base for n in rest]
