"""Archive: what Orthanc holds, patient by patient, as the IIIF collections list it (reads only, no cache).

Each listing is one expanded Orthanc call (`/patients?expand&since&limit`, `/patients/{id}/studies`,
`/studies/{id}/series`); which series have images, and of which kind, is asked of the series repository,
whose answers are cached under the series' revision.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from .dicom_tags import COLUMNS, ROWS, TagReader
from .errors import NotFound, UpstreamError
from .series_repository import OrthancReader, SeriesRepository, check_id

Kind = Literal["slide", "frames"]


@dataclass(frozen=True)
class Entry:
    """One patient, study or series: its Orthanc id, its main tags (by name) and its children's ids."""

    id: str
    tags: dict[str, str]
    children: tuple[str, ...]
    parent: str = ""


@dataclass(frozen=True)
class Picture:
    """What a thumbnail is taken from: the slide, or the first frame of one of the series' instances."""

    kind: Kind
    width: int
    height: int
    instance_id: str = ""  # for "frames"


@dataclass(frozen=True)
class ImageSeries:
    """A series with pixels: a whole-slide image, or one image per frame."""

    entry: Entry
    picture: Picture

    @property
    def kind(self) -> Kind:
        return self.picture.kind


def _entry(resource: dict, children_key: str, parent_key: str) -> Entry:
    tags = {k: str(v) for k, v in resource.get("MainDicomTags", {}).items()}
    tags.update({k: str(v) for k, v in resource.get("PatientMainDicomTags", {}).items()})
    return Entry(str(resource["ID"]), tags, tuple(str(c) for c in resource.get(children_key, [])),
                 str(resource.get(parent_key, "")))


class Archive:
    def __init__(self, orthanc: OrthancReader, series: SeriesRepository) -> None:
        self._orthanc = orthanc
        self._series = series

    def name(self) -> str:
        """The Orthanc's configured name (its `Name` option)."""
        return str(self._orthanc.get_json("/system").get("Name", "")) or "Orthanc"

    def patient_count(self) -> int:
        return int(self._orthanc.get_json("/statistics").get("CountPatients", 0))

    def patients(self, since: int, limit: int) -> list[Entry]:
        """Patients `since`..`since + limit - 1` in Orthanc's own (stable) order."""
        found = self._orthanc.get_json(f"/patients?expand&since={int(since)}&limit={int(limit)}")
        return [_entry(p, "Studies", "") for p in found]

    def patient(self, patient_id: str) -> Entry:
        return _entry(self._get(f"/patients/{check_id(patient_id, 'patient id')}", "patient"), "Studies", "")

    def study(self, study_id: str) -> Entry:
        return _entry(self._get(f"/studies/{check_id(study_id, 'study id')}", "study"), "Series", "ParentPatient")

    def studies(self, patient_id: str) -> list[Entry]:
        found = self._get(f"/patients/{check_id(patient_id, 'patient id')}/studies", "patient")
        return [_entry(s, "Series", "ParentPatient") for s in found]

    def image_series(self, study_id: str) -> list[ImageSeries]:
        """The study's series that have pixels, in Orthanc's order; reports, key objects and the like left out."""
        return list(self._image_series(study_id))

    def first_image_series(self, study_ids: tuple[str, ...]) -> ImageSeries | None:
        """The first series with pixels of the first study that has one (a thumbnail's source)."""
        for study_id in study_ids:
            try:
                return next(self._image_series(study_id))
            except (StopIteration, NotFound):  # none, or deleted while listing
                continue
        return None

    def _image_series(self, study_id: str) -> Iterator[ImageSeries]:
        for found in self._get(f"/studies/{check_id(study_id, 'study id')}/series", "study"):
            picture = self._picture(str(found["ID"]))
            if picture is not None:
                yield ImageSeries(_entry(found, "Instances", "ParentStudy"), picture)

    def _picture(self, series_id: str) -> Picture | None:
        try:
            model = self._series.series_model(series_id)
            if model is not None:
                pyramid = model.pyramid if model.levels else None
                return Picture("slide", pyramid.width, pyramid.height) if pyramid else None
            revision = self._series.revision(series_id)
            if not revision:
                return None
            first = TagReader(self._series.instance_tags(revision[0][0]))
        except NotFound:  # deleted while listing
            return None
        rows, columns = first.integer(ROWS, 0), first.integer(COLUMNS, 0)
        return Picture("frames", columns, rows, revision[0][0]) if rows > 0 and columns > 0 else None

    def _get(self, uri: str, what: str) -> dict | list:
        resource = "/".join(uri.split("/")[:3])  # /patients/{id}
        try:
            return self._orthanc.get_json(uri)
        except NotFound:
            pass
        except UpstreamError:
            # Orthanc 1.10 answers "Bad type for a parameter" on /patients/{id}/studies when the id names
            # another kind of resource; the resource itself then answers 404.
            try:
                self._orthanc.get_bytes(resource)
            except NotFound:
                pass
            else:
                raise
        raise NotFound(f"no {what} {uri.split('/')[2]}")
