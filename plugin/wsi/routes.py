"""The routing table (data) and dispatch: handler exceptions become HTTP answers here only."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import BadRequest, WsiError, status_for
from .http import Request, Response, text_response

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger(__name__)

Handler = Callable[[Request, "App"], Response]


def all_routes(app: App) -> list[tuple[str, Handler]]:
    """Every (regex, handler) the plugin registers; feature modules own their tables."""
    from . import tiles

    table: list[tuple[str, Handler]] = list(tiles.ROUTES)
    for module_name in ("static", "iiif_routes", "iiif_collection_routes", "frame_routes", "export.route",
                        "dicomize_routes", "annotations.routes"):
        if importlib.util.find_spec(f"{__package__}.{module_name}") is None:
            continue  # feature module not in this build
        module = importlib.import_module(f"{__package__}.{module_name}")
        routes = getattr(module, "routes_for", None)
        table.extend(routes(app.settings) if routes else module.ROUTES)
    return table


def fast_path(handler: Handler) -> Callable[[App, str, dict], Response | None] | None:
    """A handler's shortcut for repeated requests, taking Orthanc's raw request values."""
    from . import tiles

    return tiles.FAST_PATHS.get(handler)


ALLOWED_METHODS = ("GET", "HEAD")  # Orthanc 1.10 answers HEAD with 404 itself; a later one may pass it on


def dispatch(handler: Handler, request: Request, app: App) -> Response:
    """Run a handler; never raises: every failure becomes an answer (see `error_response`).

    A handler taking more than GET names its methods in a `methods` attribute (annotations: POST).
    """
    allowed = getattr(handler, "methods", ALLOWED_METHODS)
    if request.method not in allowed:
        # The adapter sends this through Orthanc's dedicated call (the generic one refuses 405).
        allow = ", ".join(m for m in allowed if m != "HEAD")
        return text_response(405, f"{request.method} is not allowed here: only {allow}", {"Allow": allow})
    try:
        return handler(request, app)
    except Exception as error:  # the one place a failure becomes an answer
        return error_response(error, request)


def error_response(error: BaseException, request: Request, headers: dict[str, str] | None = None) -> Response:
    """The answer to a failed request: the status of the error's class, a short message in our words.

    Unexpected exceptions are 500 with a logged traceback and a message that reveals nothing internal.
    """
    extra = dict(headers or {})
    if not isinstance(error, WsiError):
        log.error("%s %s failed", request.method, request.path[:200], exc_info=error)
        return text_response(500, "internal error (see the Orthanc log)", extra)
    status = status_for(error)
    if status >= 500:
        log.error("%s %s: %s", request.method, request.path[:200], error)
    parameter = getattr(error, "parameter", None) if isinstance(error, BadRequest) else None
    message = str(error)
    prefix = f"{parameter}: " if parameter and not message.startswith(parameter) else ""
    return text_response(status, prefix + message, {**error.headers, **extra})
