"""Entry script for the Orthanc Python plugin: `"PythonScript": ".../plugin/wsi_plugin.py"`.

Finds the project's virtualenv by itself, then registers the routes of the `wsi` package.
"""

import contextlib
import glob
import json
import os
import sys
import threading

import orthanc

_HERE = os.path.dirname(os.path.abspath(__file__))


def _add_virtualenv() -> None:
    """Put the dependencies' site-packages on sys.path: configured folder, $WSI_VIRTUALENV, or ../.venv."""
    configured = json.loads(orthanc.GetConfiguration()).get("WholeSlideImaging", {})
    candidates = [configured.get("VirtualEnv") if isinstance(configured, dict) else None,
                  os.environ.get("WSI_VIRTUALENV"), os.path.join(os.path.dirname(_HERE), ".venv")]
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for venv in filter(None, candidates):
        for site in glob.glob(os.path.join(venv, "lib", version, "site-packages")):
            if site not in sys.path:
                sys.path.insert(0, site)
            return
    orthanc.LogWarning(f"[wsi] no virtualenv with {version} in {candidates}: using the system's packages")


if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
_add_virtualenv()

from wsi.native import bind_to_own_libraries  # noqa: E402

# Before anything imports numpy, imagecodecs or PIL: their libraries must not bind to Orthanc's (wsi/native.py).
_NATIVE_MODULES = bind_to_own_libraries()

import importlib.util  # noqa: E402
import logging  # noqa: E402

from wsi.adapter import OrthancAdapter, OrthancLogHandler  # noqa: E402
from wsi.allocator import configure_malloc  # noqa: E402
from wsi.app import build_app  # noqa: E402
from wsi.callback_leak import CallbackLeakRepair  # noqa: E402
from wsi.config import ConfigError, load_settings  # noqa: E402
from wsi.routes import all_routes, dispatch, fast_path  # noqa: E402


def _setup_logging() -> None:
    handler = OrthancLogHandler(orthanc)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger("wsi")
    root.addHandler(handler)
    # WSI_LOG_LEVEL=DEBUG: also each frame read from Orthanc and decoded (shown when Orthanc logs verbosely).
    root.setLevel(os.environ.get("WSI_LOG_LEVEL", "INFO").upper())
    root.propagate = False


# Every callback handed to Orthanc, kept alive by this module. orthanc-python 5.0 (Debian 13) releases its
# references to callbacks while the interpreter is finalizing: a closure it held alone is then freed there and
# Orthanc segfaults on every stop (exit 139; measured in a Debian 13 root). Module globals outlive that step.
_CALLBACKS: list = []


def _kept(callback):
    _CALLBACKS.append(callback)
    return callback


def _register(adapter: OrthancAdapter, app, leak: CallbackLeakRepair) -> None:
    def make_callback(handler):
        shortcut = fast_path(handler)

        def callback(output, uri, **request):
            app.activity.enter()  # background pre-rendering waits while requests run
            try:
                answer(output, uri, request)
            finally:
                app.activity.leave()
                leak.after(request)  # orthanc-python 4.0 keeps the arguments of every request (callback_leak.py)

        def answer(output, uri, request):
            # Every request gets an answer: an exception escaping here would be Orthanc's JSON 500, and an
            # answer refused by Orthanc a dropped connection that holds an HTTP thread until its timeout.
            response = None
            if shortcut:
                try:
                    response = shortcut(app, uri, request)
                except Exception:  # the handler below answers properly (e.g. 404 for a deleted series)
                    response = None
            if response is None:
                response = dispatch(handler, adapter.to_request(uri, request), app)
            try:
                adapter.answer(output, response)
            except Exception as error:
                orthanc.LogError(f"[wsi] could not send a {response.status} answer to {uri[:200]}: {error!r}")
                with contextlib.suppress(Exception):
                    output.SendHttpStatusCode(500)
        return callback

    patterns = []
    for pattern, handler in all_routes(app):
        adapter.register_route(pattern, _kept(make_callback(handler)))
        patterns.append(pattern)

    def on_change(change_type, level, resource_id):
        if change_type == orthanc.ChangeType.NEW_INSTANCE:
            app.service.on_change(resource_id)  # stored here: this Orthanc's parsed copy is new too
        elif change_type == orthanc.ChangeType.DELETED:
            app.service.on_change()
        elif change_type == orthanc.ChangeType.STABLE_SERIES and app.prerender is not None:
            app.prerender.submit(resource_id)
        elif change_type == orthanc.ChangeType.ORTHANC_STOPPED:
            app.stop()  # background threads end while the SDK still answers them

    orthanc.RegisterOnChangeCallback(_kept(on_change))
    # Also when the interpreter shuts down without ORTHANC_STOPPED (runs before threads are joined).
    threading._register_atexit(app.stop)
    if importlib.util.find_spec("wsi.explorer") is not None:
        from wsi.explorer import explorer_js

        try:
            adapter.extend_explorer(explorer_js(app.settings, patterns))
        except Exception as error:  # the buttons are a convenience: the routes must still come up
            orthanc.LogError(f"[wsi] Orthanc Explorer extension not installed: {error}")


# Libraries with import cycles that routes import lazily (annotations, dicomize, export, stored files).
# Two of Orthanc's threads importing them for their first requests at once can meet in a cycle: importlib
# raises _DeadlockError and leaves the package half initialised, and every later request of those routes
# answered 500 until a restart (tests/integration/test_fuzz_write_routes.py). Imported here, on Orthanc's
# main thread before any route exists: about 0.7 s more at start-up.
_CYCLIC_LIBRARIES = ("pydicom", "highdicom")


def _import_cyclic_libraries() -> None:
    for name in _CYCLIC_LIBRARIES:
        importlib.import_module(name)


def _main() -> None:
    _setup_logging()
    adapter = OrthancAdapter(orthanc)
    configuration = adapter.configuration()
    try:
        settings = load_settings(configuration)
    except ConfigError as error:
        orthanc.LogError(f"[wsi] configuration error: {error}; the whole-slide plugin is disabled")
        return
    # Large blocks freed back to the system, not kept in glibc's arenas (wsi/allocator.py, docs/limits.md).
    malloc = configure_malloc(settings.malloc_mmap_threshold_kb)
    orthanc.LogWarning(f"[wsi] glibc malloc: {malloc} (WholeSlideImaging.MallocMmapThresholdKB)")
    app = build_app(settings, adapter)
    _import_cyclic_libraries()
    _register(adapter, app, CallbackLeakRepair(settings.repair_callback_leak))
    orthanc.LogInfo(f"[wsi] native modules bound to their own libraries: {', '.join(_NATIVE_MODULES)}")
    python = configuration.get("Python")
    threads = python.get("AllowThreads", False) if isinstance(python, dict) else False
    # orthanc-python 4.3+ releases the GIL during SDK calls when asked (4.0 ignores the option): README.
    orthanc.LogWarning(f"[wsi] whole-slide imaging plugin ready (Python.AllowThreads: {str(threads).lower()})")


_main()
