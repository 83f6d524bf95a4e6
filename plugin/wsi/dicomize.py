"""The DICOM-izer as a command: a slide file to an Orthanc (REST, optional credentials) or to a folder.

    scripts/dicomize SLIDE --orthanc http://localhost:8042 [--username U --password P] [options]
    scripts/dicomize SLIDE --folder OUT [options]

(`PYTHONPATH=plugin .venv/bin/python -m wsi.dicomize ...` is the same.) Options are the route's
(README, "DICOM-izer"). Instances go one by one as they are written; on failure or Ctrl-C those already
stored in Orthanc are deleted again, files already written to the folder are removed.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .dicomizer.options import parse_options
from .dicomizer.source import open_slide
from .dicomizer.writer import Progress, dicomize
from .errors import WsiError


class OrthancTarget:
    """Stores instances through Orthanc's REST API; remembers them to delete on failure."""

    def __init__(self, url: str, username: str | None, password: str | None) -> None:
        self.url = url.rstrip("/")
        self.headers = {}
        if username is not None:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"
        self.instances: list[str] = []
        self.series: set[str] = set()

    def _call(self, method: str, path: str, body: bytes | None = None) -> bytes:
        request = urllib.request.Request(self.url + path, data=body, method=method,
                                         headers={**self.headers, "Content-Type": "application/dicom"})
        with urllib.request.urlopen(request, timeout=300) as answer:
            return answer.read()

    def store(self, dicom: bytes, label: str) -> None:
        answer = json.loads(self._call("POST", "/instances", dicom))
        self.instances.append(answer["ID"])
        self.series.add(answer.get("ParentSeries", ""))

    def undo(self) -> None:
        for instance in reversed(self.instances):
            try:
                self._call("DELETE", f"/instances/{instance}")
            except urllib.error.URLError as error:
                print(f"could not delete instance {instance}: {error}", file=sys.stderr)


class FolderTarget:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[Path] = []

    def store(self, dicom: bytes, label: str) -> None:
        path = self.folder / f"{len(self.files) + 1:04d}.dcm"
        path.write_bytes(dicom)
        self.files.append(path)

    def undo(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dicomize", description=__doc__.split("\n\n")[0])
    parser.add_argument("slide", type=Path)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--orthanc", metavar="URL")
    where.add_argument("--folder", type=Path)
    parser.add_argument("--username")
    parser.add_argument("--password")
    for name in ("compression", "quality", "tile-size", "levels", "max-size", "mpp", "objective-power", "icc",
                 "patient-id", "patient-name", "study-description", "series-description", "accession-number",
                 "study-instance-uid", "specimen-id"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--dataset", type=Path, help="JSON file of DICOM tags (see --sample-dataset)")
    parser.add_argument("--sample-dataset", action="store_true", help="print a dataset to edit, and stop")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    if argv is None and "--sample-dataset" in sys.argv[1:]:
        from .dicomizer.dataset import SAMPLE

        print(json.dumps(SAMPLE, indent=2))
        return 0
    args = _arguments(argv)
    values = {name.replace("_", "-"): value for name, value in vars(args).items()
              if value is not None and name not in ("slide", "orthanc", "folder", "username", "password",
                                                    "dataset", "sample_dataset", "quiet")}
    if args.dataset:
        values["dataset"] = json.loads(args.dataset.read_text())
    if args.folder:
        if not args.folder.is_dir():
            print(f"dicomize: {args.folder} is not a folder", file=sys.stderr)
            return 2
        target = FolderTarget(args.folder)
    else:
        target = OrthancTarget(args.orthanc, args.username, args.password)

    def report(progress: Progress) -> None:
        if not args.quiet:
            print(f"\r{100 * progress.done_tiles / max(1, progress.total_tiles):5.1f} % "
                  f"{progress.instances} instances", end="", file=sys.stderr, flush=True)

    try:
        options = parse_options(values)
        slide = open_slide(str(args.slide))
    except WsiError as error:
        parameter = getattr(error, "parameter", None)
        print(f"dicomize: {f'{parameter}: ' if parameter else ''}{error}", file=sys.stderr)
        return 2
    try:
        result = dicomize(slide, options, target.store, report=report)
    except (Exception, KeyboardInterrupt) as error:
        target.undo()
        print(f"\ndicomize: failed, nothing kept: {error}", file=sys.stderr)
        return 1
    finally:
        slide.close()
    summary = {"SeriesInstanceUID": result.series_uid, "Levels": result.levels}
    if isinstance(target, OrthancTarget):
        summary.update(Series=next(iter(target.series), None), Instances=target.instances)
    else:
        summary["Files"] = [str(path) for path in target.files]
    if not args.quiet:
        print(file=sys.stderr)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
