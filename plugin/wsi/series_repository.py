"""SeriesRepository: series models and per-instance facts read from Orthanc, trusted while fresh.

A series' revision is its sorted (instance id, FileUuid) pairs: instance ids hash the UIDs, so a series
stored again with the same UIDs keeps its ids but not its files. A fact is re-read after any change Orthanc
reports in this process (`on_change`) and at least every `check_seconds` (other Orthancs sharing the
database do not tell us). Everything from a URL is validated before it reaches an Orthanc REST path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .cache import Memo, SingleFlight
from .dicom_tags import NUMBER_OF_FRAMES, TRANSFER_SYNTAX_UID, TagReader
from .disk_cache import DiskCache
from .errors import BadRequest, NotFound, UpstreamError
from .series import WSI_SOP_CLASS, InstanceRecord, Revision, SeriesModel, build_series_model

log = logging.getLogger(__name__)

ORTHANC_ID = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{8}){4}")
_MAX_SERIES = 512  # models kept (a model is small but a sparse level's index can be large)
_MAX_VERSIONS = 65536  # instance versions kept
# Instances whose first-read stored file is remembered (about 150 bytes each). Past it the oldest are
# forgotten: docs/scaleout.md says what that leaves open.
_MAX_PARSED = 1 << 18


class OrthancReader(Protocol):
    def get_bytes(self, uri: str) -> bytes: ...
    def get_json(self, uri: str) -> Any: ...


def check_id(value: str, what: str = "identifier") -> str:
    if not ORTHANC_ID.fullmatch(value):
        raise BadRequest(f"not an Orthanc {what}: {value[:60]!r}", what)
    return value


@dataclass
class _Checked:
    """A fact read from Orthanc, trusted until check_seconds after its check began or a change."""

    value: Any
    checked_at: float  # when the read began: a change made during it is not missed
    generation: int  # the change count when the read began


@dataclass(frozen=True)
class SeriesState:
    model: SeriesModel | None  # None: the series exists but is not whole-slide
    revision: Revision


class SeriesRepository:
    def __init__(self, orthanc: OrthancReader, facts: Memo, check_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, disk: DiskCache | None = None) -> None:
        self._orthanc = orthanc
        self._disk = disk  # the derivative cache: instance tags survive restarts there (`_model_tags`)
        self._facts = facts  # instance tags, by instance version
        self._clock = clock
        self._check_seconds = check_seconds
        self._series: dict[str, _Checked] = {}  # series id -> SeriesState
        self._versions: dict[str, _Checked] = {}  # instance id -> version (FileUuid)
        self._lock = threading.Lock()
        self._reads = SingleFlight()  # N cold requests for one series read and build it once
        self._generation = 0  # bumped by Orthanc's change callback
        # instance id -> the stored file (FileUuid) Orthanc's parsed-DICOM cache in this process may hold
        self._parsed: dict[str, str] = {}

    # ---- change tracking --------------------------------------------------------------------------
    def on_change(self, stored_instance: str | None = None) -> None:
        """An instance was stored or deleted in this Orthanc: re-check cached facts before trusting them.

        `stored_instance`: the instance this Orthanc has just stored, which also dropped its own parsed copy.
        """
        self._generation += 1
        if stored_instance is not None:
            with self._lock:
                self._parsed.pop(stored_instance, None)

    def replaced(self, instance_id: str, version: str) -> bool:
        """Whether this Orthanc's own reads of the instance (`/frames`, `/content`) may answer another stored
        file than `version`: Orthanc 1.10 keeps a parsed copy per process, keyed by instance id, dropped only
        where the instance was changed. The first version this process read is the one it may hold; any other
        version was stored through another Orthanc (docs/scaleout.md)."""
        with self._lock:
            first = self._parsed.get(instance_id)
            if first is None:
                self._parsed[instance_id] = first = version
                while len(self._parsed) > _MAX_PARSED:
                    del self._parsed[next(iter(self._parsed))]
        return first != version

    def _trusted(self, checked: _Checked | None) -> bool:
        return checked is not None and checked.generation == self._generation and \
            self._clock() - checked.checked_at < self._check_seconds

    def _remember(self, table: dict[str, _Checked], key: str, value: Any, started: float, generation: int,
                  limit: int) -> None:
        """Store a fact unless a later read already stored one: facts only move forward in time."""
        with self._lock:
            current = table.get(key)
            if current is not None and current.checked_at > started:
                return
            table.pop(key, None)  # re-inserted last: the oldest facts go first when over the limit
            table[key] = _Checked(value, started, generation)
            while len(table) > limit:
                del table[next(iter(table))]

    def _forget(self, table: dict[str, _Checked], key: str) -> None:
        with self._lock:
            table.pop(key, None)

    # ---- series -----------------------------------------------------------------------------------
    def state(self, series_id: str) -> SeriesState:
        """The series' model and revision, taken together, re-read when not trusted; NotFound for no series."""
        check_id(series_id, "series id")
        checked = self._series.get(series_id)
        if self._trusted(checked):
            return checked.value

        def trusted() -> SeriesState | None:
            again = self._series.get(series_id)
            return again.value if self._trusted(again) else None

        # A change after a read began must not be answered by that read: the generation is in the key.
        return self._reads.run((series_id, self._generation), lambda: self._read_state(series_id, checked), trusted)

    def _read_state(self, series_id: str, checked: _Checked | None) -> SeriesState:
        # Another Orthanc sharing the database may have changed the series, and a series stored again
        # with the same UIDs keeps its instance ids: each instance's stored file decides (FileUuid).
        started, generation = self._clock(), self._generation
        revision = self._revision(series_id, started, generation)
        if checked is not None and checked.value.revision == revision:
            state = checked.value
        else:
            state = SeriesState(self._build_model(series_id, revision), revision)
        self._remember(self._series, series_id, state, started, generation, _MAX_SERIES)
        return state

    def _revision(self, series_id: str, started: float, generation: int) -> Revision:
        try:
            try:
                instances = self._orthanc.get_json(f"/series/{series_id}/instances")
            except UpstreamError:
                # Orthanc 1.10 answers "Bad type for a parameter" when the id names an instance or a study;
                # GET /series/{id} answers 404 then.
                self._orthanc.get_bytes(f"/series/{series_id}")
                raise
        except NotFound:
            self._forget(self._series, series_id)
            raise NotFound(f"no series {series_id}") from None
        revision = tuple(sorted((str(i["ID"]), str(i.get("FileUuid", ""))) for i in instances))
        for instance_id, version in revision:
            self._remember(self._versions, instance_id, version, started, generation, _MAX_VERSIONS)
        return revision

    def _build_model(self, series_id: str, revision: Revision) -> SeriesModel | None:
        if not revision:
            return None
        first = revision[0][0]
        if self._orthanc.get_bytes(f"/instances/{first}/metadata/SopClassUid").decode() != WSI_SOP_CLASS:
            return None
        records = [InstanceRecord(i, self._model_tags(i, version), self.transfer_syntax(i), version)
                   for i, version in revision]
        model = build_series_model(series_id, records)
        if model is not None:
            log.info("series %s: %d levels, %d optical paths, %d focal planes", series_id, len(model.levels),
                     len(model.optical_paths), len(model.focal_planes_um))
        return model

    def _model_tags(self, instance_id: str, version: str) -> dict:
        """The instance's tags as the model reads them, kept on disk (the derivative cache) under its stored file:
        Orthanc spends about 0.05 ms per frame on them (each frame's functional group: 10-20 ms for a slide of
        250 frames), which every Orthanc process would pay again on its first pyramid of the slide."""
        uri = f"/instances/{instance_id}/tags?short"
        if self._disk is None or not version:
            return self._orthanc.get_json(uri)
        key = ("model-tags", instance_id, version)
        found = self._disk.get(key)
        if found is not None:
            with contextlib.suppress(ValueError):
                return json.loads(found)
        log.debug("reading the tags of instance %s", instance_id)
        body = self._orthanc.get_bytes(uri)
        tags = json.loads(body)
        self._disk.put(key, body)
        return tags

    def series_model(self, series_id: str) -> SeriesModel | None:
        """The whole-slide model (None for another kind of series); NotFound for no series."""
        return self.state(series_id).model

    def wsi_model(self, series_id: str) -> SeriesModel:
        model = self.series_model(series_id)
        if model is None or not model.levels:
            raise NotFound(f"series {series_id} is not a whole-slide image")
        return model

    def is_fresh(self, model: object) -> bool:
        """Whether an answer built from `model` may be sent without looking at Orthanc: it is still the
        series' current model and was checked recently. The model must be taken before the answer is built."""
        if not isinstance(model, SeriesModel):
            return False
        checked = self._series.get(model.series_id)
        return checked is not None and checked.value.model is model and self._trusted(checked)

    def series_tags(self, series_id: str) -> dict[str, str]:
        """Main DICOM tags of the series, its study and patient, as plain strings."""
        check_id(series_id, "series id")
        series = self._orthanc.get_json(f"/series/{series_id}")
        study = self._orthanc.get_json(f"/studies/{series['ParentStudy']}")
        tags: dict[str, str] = {}  # Orthanc's resource JSON, tags by name: not DICOM JSON (no TagReader)
        for source in (study.get("PatientMainDicomTags", {}), study.get("MainDicomTags", {}),
                       series.get("MainDicomTags", {})):
            tags.update({k: str(v) for k, v in source.items()})
        tags["OrthancStudyID"] = series["ParentStudy"]
        return tags

    # ---- instances --------------------------------------------------------------------------------
    def resource_kind(self, resource_id: str) -> str:
        """"series" or "instance"; NotFound when Orthanc has neither."""
        check_id(resource_id)
        if self._trusted(self._series.get(resource_id)):
            return "series"
        if self._trusted(self._versions.get(resource_id)):
            return "instance"
        try:
            self.state(resource_id)
            return "series"
        except NotFound:
            pass
        try:
            self.instance_version(resource_id)
            return "instance"
        except NotFound:
            raise NotFound(f"no series or instance {resource_id}") from None

    def instance_version(self, instance_id: str) -> str:
        """What Orthanc stores for the instance now (FileUuid); NotFound for no instance."""
        check_id(instance_id, "instance id")
        checked = self._versions.get(instance_id)
        if self._trusted(checked):
            return checked.value
        started, generation = self._clock(), self._generation
        try:
            version = str(self._orthanc.get_json(f"/instances/{instance_id}").get("FileUuid", ""))
        except NotFound:
            self._forget(self._versions, instance_id)
            raise NotFound(f"no instance {instance_id}") from None
        self._remember(self._versions, instance_id, version, started, generation, _MAX_VERSIONS)
        return version

    def transfer_syntax(self, instance_id: str) -> str:
        """The instance's transfer syntax: Orthanc's metadata (a database read, 0.02 ms), else the file meta
        header (Orthanc reads the file for it: 0.2-2 ms). Orthanc 1.10 leaves the metadata empty for HTJ2K
        and JPEG XL; the header never is."""
        try:
            syntax = self._orthanc.get_bytes(f"/instances/{instance_id}/metadata/TransferSyntax").decode().strip()
        except NotFound:
            syntax = ""
        if syntax:
            return syntax
        header = self._orthanc.get_json(f"/instances/{instance_id}/header?short")
        return TagReader(header).text(TRANSFER_SYNTAX_UID).strip("\0 ")  # a UID is padded with NUL

    def instance_tags(self, instance_id: str) -> dict:
        """The instance's tags (short form) as stored now."""
        # VOI LUT data is left out of Orthanc's JSON unless asked for by tag.
        return self._facts.get_or_compute(
            ("tags", instance_id, self.instance_version(instance_id)),
            lambda: self._orthanc.get_json(f"/instances/{instance_id}/tags?short&ignore-length=0028-3006"),
            lambda tags: 4096 + len(tags) * 64)

    def frame_count(self, instance_id: str) -> int:
        return max(1, TagReader(self.instance_tags(instance_id)).integer(NUMBER_OF_FRAMES, 1))

    def revision(self, series_id: str) -> Revision:
        return self.state(series_id).revision
