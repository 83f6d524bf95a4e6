"""Under load and change, in a real Orthanc: 8 clients fetch tiles, IIIF regions, associated images and IIIF
frames of a radiology series while both series are deleted, then stored again with the same UIDs (same
Orthanc ids) and other pixels.

What must hold (SeriesCheckSeconds = 1): no 5xx and no dropped connection at any time; every request that
starts SeriesCheckSeconds after the deletion answers 404; every request that starts SeriesCheckSeconds after
the new upload answers exactly what a freshly started Orthanc answers; no request that starts
SeriesCheckSeconds after the deletion ever answers the old pixels. Bounded: about 6 s of load, at most
MAX_REQUESTS requests.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from tests.conftest import PLUGIN_SCRIPT, SOURCE_SEED, SOURCE_SIZE
from tests.support.orthanc_server import OrthancServer
from tests.support.source import textured_image
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

CHECK_SECONDS = 1.0
CLIENTS = 8
MAX_REQUESTS = 40_000
WARM_SECONDS, DELETED_SECONDS, SETTLE_SECONDS = 1.0, CHECK_SECONDS + 1.5, CHECK_SECONDS + 2.0


# ---- data: the same UIDs twice, with other pixels -----------------------------------------------------------

def restamp(files: list[Path], like: list[Path]) -> None:
    """Give each file the SOP Instance UID (and frame of reference) of its namesake in `like`."""
    originals = {path.name: pydicom.dcmread(path, stop_before_pixels=True) for path in like}
    for path in files:
        ds, original = pydicom.dcmread(path), originals[path.name]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = original.SOPInstanceUID
        ds.FrameOfReferenceUID = original.FrameOfReferenceUID
        ds.save_as(path, enforce_file_format=True)


def ct_instance(pixels: np.ndarray, study: str, series: str, sop: str, number: int) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = CTImageStorage, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = study, series, number
    ds.PatientID, ds.Modality, ds.ImagePositionPatient = "CHANGE", "CT", [0, 0, number]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = -1024, 1, 40, 400
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def ct_series(folder: Path, study: str, series: str, sops: list[str], inverted: bool) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    ys, xs = np.mgrid[0:96, 0:128]
    paths = []
    for number, sop in enumerate(sops, start=1):
        ramp = (3 * xs + 5 * ys + 97 * number) % 400
        path = folder / f"ct{number}.dcm"
        path.write_bytes(ct_instance(864 + (399 - ramp if inverted else ramp), study, series, sop, number))
        paths.append(path)
    return paths


@dataclass
class Data:
    old: list[Path]
    new: list[Path]


def make_data(folder: Path) -> Data:
    image = textured_image(*SOURCE_SIZE, seed=SOURCE_SEED)
    study, slide_series, ct_uid = generate_uid(), generate_uid(), generate_uid()
    sops = [generate_uid(), generate_uid()]
    kw = {"study_uid": study, "series_uid": slide_series, "associated": ("THUMBNAIL",)}
    old = write_slide(folder / "old", image, **kw)
    new = write_slide(folder / "new", 255 - image, **kw)
    restamp(new, old)
    old += ct_series(folder / "old-ct", study, ct_uid, sops, inverted=False)
    new += ct_series(folder / "new-ct", study, ct_uid, sops, inverted=True)
    return Data(old, new)


# ---- the load -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    path: str
    accept: str = ""
    pixels: bool = True  # JSON answers are the same before and after: only their status is checked


def targets(slide: str, ct: str, ct_instance_id: str) -> list[Target]:
    tiles, frames = f"/wsi/iiif/tiles/{slide}", "/wsi/iiif/frames"
    return [
        Target(f"/wsi/tiles/{slide}/0/1/1"),  # stored JPEG, passed through
        Target(f"/wsi/tiles/{slide}/0/4/2"),  # padded edge tile
        Target(f"/wsi/tiles/{slide}/0/0/0", "image/png"),  # decoded and re-encoded
        Target(f"/wsi/tiles/{slide}/2/0/0", "image/png"),
        Target(f"{tiles}/256,256,256,256/256,256/0/default.jpg"),  # IIIF: one whole stored tile
        Target(f"{tiles}/full/275,/0/default.png"),  # IIIF region from a coarser level
        Target(f"{tiles}/300,200,400,300/max/0/default.png"),  # IIIF region across tiles of level 0
        Target(f"{tiles}/0,0,512,512/256,/0/default.jpg"),
        Target(f"/wsi/associated/{slide}/thumbnail"),
        Target(f"{frames}/{ct}/1/full/max/0/default.png"),  # IIIF frames of a radiology series
        Target(f"{frames}/{ct_instance_id}/0/full/64,/0/default.png"),
        Target(f"/wsi/pyramids/{slide}", pixels=False),
        Target(f"{tiles}/info.json", pixels=False),
        Target(f"/wsi/iiif/series/{ct}/manifest.json", pixels=False),
    ]


@dataclass(frozen=True)
class Answer:
    target: int
    started: float
    status: int  # -1: no HTTP answer (dropped connection)
    digest: str
    error: str = ""  # the body of an error answer, for the failure message
    finished: float = 0.0


def fetch(connection: http.client.HTTPConnection, target: Target) -> tuple[int, bytes]:
    connection.request("GET", target.path, headers={"Accept": target.accept} if target.accept else {})
    response = connection.getresponse()
    return response.status, response.read()


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class Load:
    """CLIENTS threads cycling through the targets in their own shuffled orders until stopped."""

    def __init__(self, server: OrthancServer, all_targets: list[Target]) -> None:
        self.server, self.targets = server, all_targets
        self.answers: list[Answer] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(CLIENTS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self._threads), "a client is still waiting for an answer"

    def _client(self, seed: int) -> None:
        order = list(range(len(self.targets)))
        random.Random(seed).shuffle(order)
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        n = 0
        while not self.stop.is_set() and len(self.answers) < MAX_REQUESTS:
            index = order[n % len(order)]
            n += 1
            started = time.monotonic()
            try:
                status, body = fetch(connection, self.targets[index])
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
                status, body = -1, b""
            with self._lock:
                self.answers.append(Answer(index, started, status, digest(body),
                                           body[:200].decode("utf-8", "replace") if status >= 500 else "",
                                           time.monotonic()))
        connection.close()


def truth(server: OrthancServer, all_targets: list[Target]) -> dict[int, tuple[int, str]]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        answers = {n: fetch(connection, target) for n, target in enumerate(all_targets)}
    finally:
        connection.close()
    return {n: (status, digest(body)) for n, (status, body) in answers.items()}


def test_delete_and_store_again_under_load(tmp_path: Path) -> None:
    data = make_data(tmp_path / "data")
    config = {"WholeSlideImaging": {"SeriesCheckSeconds": CHECK_SECONDS, "EnableIIIF": True}}
    server = OrthancServer(PLUGIN_SCRIPT, extra_config=config, storage_dir=tmp_path / "orthanc")
    with server:
        ids = server.upload(data.old)
        slide = server.get_json(f"/instances/{ids[0]}")["ParentSeries"]
        ct = server.get_json(f"/instances/{ids[-1]}")["ParentSeries"]
        all_targets = targets(slide, ct, ids[-1])
        old = truth(server, all_targets)
        assert all(status == 200 for status, _ in old.values()), old
        with Load(server, all_targets) as load:
            time.sleep(WARM_SECONDS)
            for series in (slide, ct):
                assert server.request("DELETE", f"/series/{series}")[0] == 200
            deleted = time.monotonic()
            time.sleep(DELETED_SECONDS)
            uploading = time.monotonic()
            assert server.upload(data.new) == ids  # the same UIDs: the same Orthanc ids
            uploaded = time.monotonic()
            time.sleep(SETTLE_SECONDS)
        server.stop()  # a fresh process: nothing cached, the new pixels as stored
        server.start()
        new = truth(server, all_targets)

    answers = load.answers
    assert len(answers) > 20 * len(all_targets), f"only {len(answers)} requests under load"
    pixel_targets = [n for n, target in enumerate(all_targets) if target.pixels]
    for n in pixel_targets:  # the test can fail: old and new pixels differ on every pixel route
        assert new[n][0] == 200 and new[n][1] != old[n][1], all_targets[n].path
    failures = []
    for answer in answers:
        path = all_targets[answer.target].path
        pixels = answer.target in pixel_targets
        if answer.status < 0 or answer.status >= 500:
            failures.append(f"{answer.status} at {answer.started - deleted:+.2f} s: {path}: {answer.error}")
        elif answer.started >= deleted + CHECK_SECONDS and pixels and answer.status == 200 and \
                answer.digest == old[answer.target][1]:
            failures.append(f"old pixels {answer.started - deleted:+.2f} s after the deletion: {path}")
        # A request answered once the upload had begun may rightly see the new instances (its pixels are checked
        # above: never the old ones); until then, 404.
        elif deleted + CHECK_SECONDS <= answer.started and answer.finished < uploading and answer.status != 404:
            failures.append(f"{answer.status} {answer.started - deleted:+.2f} s after the deletion: {path}")
        elif answer.started >= uploaded + CHECK_SECONDS and (answer.status, answer.digest if pixels else "") != \
                (new[answer.target][0], new[answer.target][1] if pixels else ""):
            failures.append(f"not the new answer {answer.started - uploaded:+.2f} s after the upload: {path}")
    late_after_delete = sum(deleted + CHECK_SECONDS <= a.started < uploading for a in answers)
    late_after_upload = sum(a.started >= uploaded + CHECK_SECONDS for a in answers)
    assert late_after_delete > 2 * len(all_targets) and late_after_upload > 2 * len(all_targets)
    assert not failures, f"{len(failures)} of {len(answers)} answers wrong:\n" + "\n".join(failures[:30])
