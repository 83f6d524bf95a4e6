"""Independent checks of DICOM files written by the DICOM-izer: dciodvfy (dicom3tools), wsidicom, OpenSlide."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WSIDICOM_PYTHON = ROOT / "tests" / ".cache" / "wsidicomizer" / "bin" / "python"
# dciodvfy checks a TILED_FULL instance's frame count against its whole matrix, also for the parts of a
# concatenation (PS3.3 C.7.6.16.2.2 lets a concatenation's parts hold a share of the frames each).
CONCATENATION_FALSE_POSITIVE = "NumberOfFrames does not match expected value for tiled total pixel matrix"


def dciodvfy_errors(path: Path, concatenated: bool = False) -> list[str]:
    """Error lines of Debian's dciodvfy on one file."""
    tool = shutil.which("dciodvfy")
    assert tool, "dciodvfy missing: scripts/setup.sh test installs dicom3tools"
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
    if concatenated:
        errors = [line for line in errors if CONCATENATION_FALSE_POSITIVE not in line]
    return errors


def wsidicom_summary(folder: Path) -> dict:
    """What wsidicom (in its own virtualenv) reads from a folder: level sizes, mpp, associated sizes."""
    script = """
import json, sys
from wsidicom import WsiDicom
with WsiDicom.open(sys.argv[1]) as w:
    out = {"levels": [list(l.size.to_tuple()) for l in w.levels], "mpp": list(w.mpp.to_tuple())}
    for kind in ("label", "overview", "thumbnail"):
        try:
            out[kind] = list(getattr(w, "read_" + kind)().size)
        except Exception:
            out[kind] = None
    print(json.dumps(out))
"""
    result = subprocess.run([str(WSIDICOM_PYTHON), "-c", script, str(folder)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)
