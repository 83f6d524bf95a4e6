"""python -m wsi.export SERIES OUT.tif --orthanc URL: a stored series as a pyramidal BigTIFF (Aperio layout).

Like the C++ OrthancWSIDicomToTiff. By default the file is made here, from Orthanc's standard REST routes
(raw frames), by the same code as the plugin's route: any Orthanc will do. `--via-plugin` downloads the
plugin's GET /wsi/export instead. The output appears whole or not at all (written beside it, then renamed).
Run it with scripts/wsi-export, which puts plugin/ on the path.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import urllib.parse
from pathlib import Path

from ..errors import WsiError
from ..service import SlideService, check_id
from .http_reader import HttpOrthanc
from .options import ExportOptions
from .slide import SlideExport
from .tiff_writer import write_tiff

CACHE_BYTES = 256 << 20
CHUNK_BYTES = 1 << 20


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m wsi.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("series", help="Orthanc id of the series")
    parser.add_argument("output", type=Path, help="the TIFF file to write (.tif, .tiff or .svs)")
    parser.add_argument("--orthanc", default="http://localhost:8042", help="Orthanc's URL (default: %(default)s)")
    parser.add_argument("--username", help="HTTP Basic user name")
    parser.add_argument("--password", default=os.environ.get("ORTHANC_PASSWORD"),
                        help="HTTP Basic password (default: $ORTHANC_PASSWORD)")
    parser.add_argument("--optical-path", help="optical path identifier (default: the first)")
    parser.add_argument("--focal-plane", help="focal plane index (default: the middle of the stack)")
    parser.add_argument("--quality", default="90", help="JPEG quality of tiles encoded here, 1-100 (default: 90)")
    parser.add_argument("--via-plugin", action="store_true", help="download GET /wsi/export from the plugin instead")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def export(args: argparse.Namespace, out) -> dict[str, int]:
    """Write the export into the open binary file `out`; returns what was copied and encoded."""
    series_id = check_id(args.series, "series id")
    query = {key: value for key, value in (("optical-path", args.optical_path), ("focal-plane", args.focal_plane),
                                           ("quality", args.quality)) if value is not None}
    options = ExportOptions.from_query(query, 90)  # checked here too: a bad option fails before any download
    orthanc = HttpOrthanc(args.orthanc, args.username, args.password)
    try:
        if args.via_plugin:
            response = orthanc.open(f"/wsi/export/{series_id}?{urllib.parse.urlencode(query)}")
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
            return {}
        service = SlideService(orthanc, CACHE_BYTES)
        job = SlideExport(service, service.series.wsi_model(series_id), options)
        write_tiff(job, out)
        return job.counts.as_dict()
    finally:
        orthanc.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    target = args.output.resolve()
    if not target.parent.is_dir():
        print(f"error: no folder {target.parent}", file=sys.stderr)
        return 2
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    try:
        with os.fdopen(fd, "w+b") as out:
            counts = export(args, out)
        os.replace(partial, target)
    except WsiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    size = target.stat().st_size
    detail = f" ({counts['copied']} tiles copied as stored, {counts['encoded']} encoded)" if counts else ""
    print(f"{target}: {size} bytes{detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
