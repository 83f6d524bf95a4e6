"""The DICOM-izer's memory on a large flat BigTIFF (every lower level generated): Orthanc's peak RSS grows by
about twice the body (Orthanc's buffer and orthanc-python's copy) plus a bounded working set; the command's
peak RSS does not grow with the file. Sizes are kept small here; scripts/measure_dicomize.py runs larger ones
(README, "DICOM-izer": 100 MB, 0.5 GB, 2 GB measured)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from scripts.measure_dicomize import make_bigtiff, through_command, through_route
from tests.support.orthanc_server import require_orthanc

pytestmark = pytest.mark.integration
MEGABYTES = 64
WORKING_SET_MB = 300  # bands of tile rows per level, frames being written, pydicom, tifffile's read buffer


@pytest.fixture(scope="module")
def bigtiff() -> Path:
    path = Path(tempfile.gettempdir()) / f"wsi-measure-{MEGABYTES}mb.tif"
    make_bigtiff(path, MEGABYTES)
    return path


def test_route_memory_is_twice_the_body_plus_a_bounded_working_set(bigtiff):
    require_orthanc()
    result = through_route(bigtiff)
    assert result["status"] == 200 and result["instances"] > 1, result
    body_mb = bigtiff.stat().st_size / (1 << 20)
    growth = result["orthanc_rss_peak_mb"] - result["orthanc_rss_baseline_mb"]
    assert growth <= 2 * body_mb + WORKING_SET_MB, result


def test_the_command_does_not_hold_the_file(bigtiff):
    result = through_command(bigtiff)
    assert result["returncode"] == 0, result
    assert result["peak_rss_mb"] < WORKING_SET_MB + 100, result  # the interpreter and its libraries: ~100 MB
