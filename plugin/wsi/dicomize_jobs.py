"""Conversions as jobs: one worker thread runs them in turn; each stores its instances through the adapter and
deletes them all again if it fails or is cancelled, so Orthanc never keeps half a series."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .errors import NotFound, Overloaded, WsiError, status_for

if TYPE_CHECKING:  # the writer (pydicom) is imported by the first conversion, not at Orthanc's start
    from .dicomizer.options import DicomizeOptions
    from .dicomizer.source import Slide
    from .dicomizer.writer import Progress

log = logging.getLogger(__name__)
KEPT_FINISHED_JOBS = 100  # finished jobs remembered for GET /wsi/jobs/{id}, oldest forgotten first


class InstanceStore(Protocol):
    def store_instance(self, dicom: bytes) -> dict: ...
    def delete_instance(self, instance_id: str) -> None: ...


@dataclass
class Job:
    id: str
    source_bytes: int
    state: str = "Pending"  # Pending, Running, Success, Failure, Cancelled
    progress: float = 0.0  # percent
    created: float = field(default_factory=time.time)
    finished: float | None = None
    error_status: int | None = None
    error: str = ""
    series: str | None = None  # Orthanc id, at the end
    instances: list[str] = field(default_factory=list)
    levels: list[list[int]] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def as_json(self) -> dict:
        answer = {"ID": self.id, "State": self.state, "Progress": round(self.progress, 1),
                  "SourceBytes": self.source_bytes, "Series": self.series, "Instances": list(self.instances),
                  "Levels": self.levels, "CreationTime": self.created, "CompletionTime": self.finished}
        if self.state == "Failure":
            answer["ErrorStatus"], answer["ErrorMessage"] = self.error_status, self.error
        return answer


@dataclass
class _Work:
    job: Job
    slide: Slide
    options: DicomizeOptions
    spooled_path: str


class DicomizeJobs:
    def __init__(self, store: InstanceStore, max_jobs: int, spool_folder: str | None) -> None:
        self._store, self._max_jobs, self.spool_folder = store, max_jobs, spool_folder or None
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._queue: queue.Queue[_Work | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    def submit(self, slide: Slide, options: DicomizeOptions, spooled_path: str, source_bytes: int) -> Job:
        """Queue a conversion (the slide is open, the options checked); 503 when too many are waiting."""
        with self._lock:
            active = sum(1 for job in self._jobs.values() if job.state in ("Pending", "Running"))
            if active >= self._max_jobs:
                raise Overloaded(f"{active} conversions are waiting or running (DicomizeMaxJobs)", retry_after=30)
            job = Job(uuid.uuid4().hex, source_bytes)
            self._jobs[job.id] = job
            self._forget_old()
            if self._worker is None or not self._worker.is_alive():
                # A daemon thread: a conversion never holds Orthanc's shutdown (stop() cancels it first).
                self._worker = threading.Thread(target=self._run, name="wsi-dicomize", daemon=True)
                self._worker.start()
        self._queue.put(_Work(job, slide, options, spooled_path))
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound("no such conversion job")
        return job

    def all(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        job.cancel.set()
        return job

    def stop(self, wait_seconds: float = 10.0) -> None:
        """Orthanc is stopping: cancel everything, let the running job clean up for a while."""
        for job in self.all():
            job.cancel.set()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(wait_seconds)

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.done.is_set()]
        for job_id in finished[:max(0, len(finished) - KEPT_FINISHED_JOBS)]:
            del self._jobs[job_id]

    def _run(self) -> None:
        while True:
            work = self._queue.get()
            if work is None:
                return
            try:
                self._convert(work)
            except BaseException:  # never let the worker die: the next job must still run
                log.exception("conversion job %s crashed", work.job.id)
            finally:
                work.slide.close()
                _remove(work.spooled_path)
                work.job.finished = time.time()
                work.job.done.set()

    def _convert(self, work: _Work) -> None:
        job = work.job
        if job.cancel.is_set():
            job.state = "Cancelled"
            return
        from .dicomizer.writer import Cancelled, dicomize

        job.state = "Running"
        series_ids: set[str] = set()

        def store(dicom: bytes, label: str) -> None:
            if job.cancel.is_set():
                raise Cancelled("conversion cancelled")
            answer = self._store.store_instance(dicom)
            job.instances.append(answer["ID"])
            series_ids.add(answer.get("ParentSeries", ""))
            log.debug("job %s stored %s as %s", job.id, label, answer["ID"])

        def report(progress: Progress) -> None:
            job.progress = min(99.0, 100.0 * progress.done_tiles / max(1, progress.total_tiles))

        try:
            result = dicomize(work.slide, work.options, store, report=report, cancelled=job.cancel.is_set,
                              spool_dir=self.spool_folder)
        except BaseException as error:
            self._undo(job)
            if isinstance(error, Cancelled):
                job.state = "Cancelled"
                return
            job.state, job.error_status = "Failure", status_for(error)
            job.error = str(error) if isinstance(error, WsiError) else "internal error (see the Orthanc log)"
            if not isinstance(error, WsiError):
                log.error("conversion job %s failed", job.id, exc_info=error)
            return
        job.series = next(iter(series_ids)) if len(series_ids) == 1 else None
        job.levels = [list(size) for size in result.levels]
        job.progress, job.state = 100.0, "Success"

    def _undo(self, job: Job) -> None:
        """Delete every instance the job stored: a failed or cancelled conversion leaves nothing behind."""
        for instance_id in reversed(job.instances):
            try:
                self._store.delete_instance(instance_id)
            except Exception:
                log.error("job %s could not delete instance %s", job.id, instance_id)
        job.instances = []


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
