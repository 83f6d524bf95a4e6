"""GET /wsi/export/{series}: the series as a pyramidal tiled BigTIFF (Aperio SVS layout).

The file is written to a temporary file (export/spool.py) and then sent from it: streamed in chunks where
orthanc-python has streamed answers (5.0), else as one buffer of at most ExportMaxBufferedMB (4.0). The whole
file is written before the first byte goes out, so any failure still gets its own status.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ..errors import Overloaded, UnsupportedFeature
from ..http import SEGMENT, Request, Response
from ..service import check_id
from .options import ExportOptions
from .slide import SlideExport
from .spool import SpooledFile
from .tiff_writer import write_tiff

if TYPE_CHECKING:
    from ..app import App

EXPORT_QUEUE_SECONDS = 30  # an export waiting for the one running longer than this gets 503


def get_export(request: Request, app: App) -> Response:
    series_id = check_id(request.groups[0], "series id")
    options = ExportOptions.from_query(request.query, app.settings.jpeg_quality)
    model = app.service.series.wsi_model(series_id)  # 404 for an unknown or non whole-slide series
    export = SlideExport(app.service, model, options)  # 400 for an unknown optical path or focal plane
    if not app.exports.acquire(timeout=EXPORT_QUEUE_SECONDS):
        raise Overloaded("another slide export is running: try again later", retry_after=EXPORT_QUEUE_SECONDS)
    spooled = SpooledFile(app.settings.export_temp_folder)
    try:
        started = time.monotonic()
        write_tiff(export, spooled.file)
        _check_size(app, spooled.length)
    except BaseException:
        spooled.close()
        raise
    finally:
        app.exports.release()
    headers = {"Content-Disposition": f'attachment; filename="{series_id}.svs"',
               "X-Export-Seconds": f"{time.monotonic() - started:.2f}",
               "X-Export-Tiles": f"copied={export.counts.copied}, encoded={export.counts.encoded}"}
    return Response(200, b"", "image/tiff", headers, body_file=spooled)


def _check_size(app: App, length: int) -> None:
    limit = app.settings.export_max_buffered_mb << 20
    if not app.streams_answers and length > limit:
        raise UnsupportedFeature(
            f"the export is {length / (1 << 20):.0f} MB: without streamed answers (orthanc-python 5.0, "
            f"StreamLargeAnswers) it is sent as one buffer of at most {limit >> 20} MB "
            f"(WholeSlideImaging.ExportMaxBufferedMB); or use the command python -m wsi.export")


ROUTES = [(rf"/wsi/export/{SEGMENT}", get_export)]
