"""Write a synthetic whole-slide series (our test writer) and optionally upload it to an Orthanc.

    .venv/bin/python scripts/sample_slide.py --upload http://localhost:8042 [--syntax jpeg|jpeg2000|...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.source import textured_image
from tests.support.writer import write_slide

SYNTAXES = {"jpeg": "1.2.840.10008.1.2.4.50", "jpeg2000": "1.2.840.10008.1.2.4.90",
            "htj2k": "1.2.840.10008.1.2.4.201", "uncompressed": "1.2.840.10008.1.2.1"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upload", metavar="URL", help="Orthanc to POST the files to, e.g. http://localhost:8042")
    parser.add_argument("--out", type=Path, help="folder for the DICOM files (default: a temporary one)")
    parser.add_argument("--syntax", choices=sorted(SYNTAXES), default="jpeg")
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="sample-slide-"))
    image = textured_image(args.width, args.height, seed=7)
    paths = write_slide(out, image, tile_size=(512, 512), downsamples=(1, 4, 16),
                        transfer_syntax=SYNTAXES[args.syntax], associated=("LABEL", "OVERVIEW", "THUMBNAIL"),
                        descriptions={"study": "Sample study", "series": f"Sample slide ({args.syntax})"})
    print(f"wrote {len(paths)} files into {out}")
    series = None
    for path in paths if args.upload else []:
        request = urllib.request.Request(args.upload.rstrip("/") + "/instances", data=path.read_bytes(),
                                         headers={"Content-Type": "application/dicom"}, method="POST")
        with urllib.request.urlopen(request) as answer:
            series = json.load(answer)["ParentSeries"]
    if series:
        print(f"series {series}: {args.upload.rstrip('/')}/wsi/app/viewer.html?series={series}")


if __name__ == "__main__":
    main()
