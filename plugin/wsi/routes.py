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
    for module_name in ("static", "iiif_routes"):
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


def dispatch(handler: Handler, request: Request, app: App) -> Response:
    """Run a handler; every failure becomes a short text answer with the status of its error class."""
    if request.method not in ("GET", "HEAD"):
        return text_response(405, f"{request.method} is not allowed here", {"Allow": "GET"})
    try:
        return handler(request, app)
    except WsiError as error:
        status = status_for(error)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.path, error)
        parameter = getattr(error, "parameter", None) if isinstance(error, BadRequest) else None
        prefix = f"{parameter}: " if parameter and not str(error).startswith(parameter) else ""
        return text_response(status, prefix + str(error))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return text_response(500, "internal error (see the Orthanc log)")
