"""Slides written by independent producers: OrthancWSIDicomizer (Debian orthanc-wsi) and wsidicomizer (PyPI).

wsidicomizer lives in a virtualenv of its own (tests/.cache/wsidicomizer, made by scripts/setup.sh test):
it needs a newer Pillow than iiif-prezi3 allows in the main one. Results are cached by content hash.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "tests" / ".cache" / "producers"
DICOMIZER = "/usr/bin/OrthancWSIDicomizer"
WSIDICOMIZER = ROOT / "tests" / ".cache" / "wsidicomizer" / "bin" / "wsidicomizer"
TIMEOUT_S = 300


def _key(source: np.ndarray, *params: object) -> str:
    digest = hashlib.sha256(source.tobytes())
    digest.update(repr((source.shape, params)).encode())
    return digest.hexdigest()[:20]


def _cached(name: str, key: str, make) -> list[Path]:
    """Files of a finished earlier run, or a fresh run in a temporary folder renamed when complete."""
    folder = CACHE / f"{name}-{key}"
    if not folder.is_dir():
        work = CACHE / f"{name}-{key}.partial"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        make(work)
        work.rename(folder)
    return sorted(folder.glob("*.dcm"))


def dicomize_with_orthanc_wsi(source: np.ndarray, *, compression: str = "jpeg",
                              tile: int = 256, levels: int | None = None) -> list[Path]:
    """Run OrthancWSIDicomizer on the source (as PNG) with --compression jpeg|jpeg2000|none."""
    def make(work: Path) -> None:
        png = work / "source.png"
        Image.fromarray(source).save(png)
        count = levels or max(1, int(np.log2(max(source.shape[:2]) / tile)) + 1)
        subprocess.run([DICOMIZER, str(png), "--pyramid=1", f"--levels={count}", f"--compression={compression}",
                        f"--tile-width={tile}", f"--tile-height={tile}", f"--folder={work}"],
                       check=True, capture_output=True, timeout=TIMEOUT_S)
        png.unlink()

    return _cached(f"orthanc-wsi-{compression}", _key(source, compression, tile, levels), make)


def dicomize_with_wsidicomizer(source: np.ndarray, *, tile: int = 256, spacing_um: float = 0.5) -> list[Path]:
    """wsidicomizer on a pyramidal OME-TIFF with JPEG tiles (which it copies as they are)."""
    if not WSIDICOMIZER.exists():
        raise FileNotFoundError(f"{WSIDICOMIZER} is missing: run `bash scripts/setup.sh test`")

    def make(work: Path) -> None:
        tiff = work / "source.ome.tif"
        options = {"tile": (tile, tile), "photometric": "rgb", "compression": "jpeg",
                   "compressionargs": {"level": 92}}
        with tifffile.TiffWriter(tiff, ome=True) as writer:
            writer.write(source, subifds=2, metadata={"PhysicalSizeX": spacing_um, "PhysicalSizeY": spacing_um},
                         **options)
            for factor in (2, 4):
                writer.write(source[::factor, ::factor], subfiletype=1, **options)
        out = work / "out"
        subprocess.run([str(WSIDICOMIZER), "-i", str(tiff), "-o", str(out), "--no-label", "--no-overview"],
                       check=True, capture_output=True, timeout=TIMEOUT_S)
        for path in out.glob("*.dcm"):
            path.rename(work / path.name)
        out.rmdir()
        tiff.unlink()

    return _cached("wsidicomizer", _key(source, tile, spacing_um), make)
