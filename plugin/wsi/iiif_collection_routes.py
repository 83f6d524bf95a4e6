"""IIIF Collection routes: the archive as Presentation 3.0 Collections (museums, teaching collections).

/wsi/iiif/collection.json                        the whole Orthanc: its patients, or pages of them
/wsi/iiif/collection/{page}.json                 page N (from 1) of IIIFCollectionPageSize patients
/wsi/iiif/patients/{patientId}/collection.json   a patient's studies
/wsi/iiif/studies/{studyId}/collection.json      a study's series with pixels, as their manifests

Thumbnails come from the image service of the first series with pixels; nothing is rendered to list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .archive import Entry, ImageSeries
from .errors import NotFound
from .http import SEGMENT, Request, Response
from .iiif_collections import (
    Links,
    Ref,
    collection,
    pages,
    patient_label,
    series_item_label,
    study_label,
)
from .iiif_routes import json_answer, only_with_iiif, orthanc_id, with_cors
from .manifest import JSONLD_MEDIA_TYPE, ImageService

if TYPE_CHECKING:
    from .app import App

Handler = Callable[[Request, "App"], Response]
_PAGE_DIGITS = 9

PATIENT_FIELDS = (("Patient name", "PatientName"), ("Patient ID", "PatientID"),
                  ("Birth date", "PatientBirthDate"), ("Sex", "PatientSex"))
STUDY_FIELDS = (("Study date", "StudyDate"), ("Study description", "StudyDescription"),
                ("Accession number", "AccessionNumber"), ("Study instance UID", "StudyInstanceUID"),
                ("Patient name", "PatientName"), ("Patient ID", "PatientID"))


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _metadata(tags: dict[str, str], fields: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return [(label, tags.get(key, "")) for label, key in fields]


class _Urls:
    """Every URL the collections name, from the public base URL."""

    def __init__(self, public: str) -> None:
        self.public = public

    def top(self) -> str:
        return f"{self.public}wsi/iiif/collection.json"

    def page(self, number: int) -> str:
        return f"{self.public}wsi/iiif/collection/{number}.json"

    def patient(self, patient_id: str) -> str:
        return f"{self.public}wsi/iiif/patients/{patient_id}/collection.json"

    def study(self, study_id: str) -> str:
        return f"{self.public}wsi/iiif/studies/{study_id}/collection.json"

    def manifest(self, series_id: str) -> str:
        return f"{self.public}wsi/iiif/series/{series_id}/manifest.json"

    def image_service(self, series: ImageSeries | None) -> ImageService | None:
        """The series' slide, or the first frame of one of its instances (whose size is known without
        ordering the series)."""
        if series is None:
            return None
        picture = series.picture
        if picture.kind == "slide":
            return ImageService(f"{self.public}wsi/iiif/tiles/{series.entry.id}", picture.width, picture.height)
        return ImageService(f"{self.public}wsi/iiif/frames/{picture.instance_id}/0", picture.width, picture.height)

    def explorer(self, kind: str, resource_id: str) -> str:
        return f"{self.public}app/explorer.html#{kind}?uuid={resource_id}"


def _patient_ref(app: App, urls: _Urls, patient: Entry) -> Ref:
    first = app.service.archive.first_image_series(patient.children)
    return Ref(urls.patient(patient.id), "Collection", patient_label(patient.tags), urls.image_service(first),
               _count(len(patient.children), "study", "studies"))


def _answer(request: Request, payload: dict) -> Response:
    return json_answer(request, payload, JSONLD_MEDIA_TYPE)


@with_cors
def get_archive(request: Request, app: App) -> Response:
    archive, urls, size = app.service.archive, _Urls(app.settings.public_url), app.settings.iiif_collection_page_size
    total = archive.patient_count()
    spans = pages(total, size)
    if len(spans) == 1:
        items = [_patient_ref(app, urls, p) for p in archive.patients(0, size)]
    else:
        items = [Ref(urls.page(n), "Collection", f"Patients {first + 1} to {first + count} of {total}")
                 for n, (first, count) in enumerate(spans, start=1)]
    links = Links(urls.top(), homepage=f"{urls.public}app/explorer.html", see_also=f"{urls.public}patients")
    summary = f"{_count(total, 'patient', 'patients')} in {archive.name()}"
    return _answer(request, collection(links, archive.name(), summary, items, []))


@with_cors
def get_page(request: Request, app: App) -> Response:
    archive, urls, size = app.service.archive, _Urls(app.settings.public_url), app.settings.iiif_collection_page_size
    text = request.groups[0]
    if not text.isdigit() or len(text) > _PAGE_DIGITS or int(text) < 1:
        raise NotFound(f"no collection page {text[:20]!r}: pages are numbered from 1")
    total, number = archive.patient_count(), int(text)
    spans = pages(total, size)
    if number > len(spans):
        raise NotFound(f"no collection page {number}: there are {len(spans)}")
    first, count = spans[number - 1]
    items = [_patient_ref(app, urls, p) for p in archive.patients(first, size)]
    label = f"Patients {first + 1} to {first + count} of {total}"
    return _answer(request, collection(Links(urls.page(number), part_of=urls.top()), label,
                                       f"Page {number} of {len(spans)} of {archive.name()}", items, []))


@with_cors
def get_patient(request: Request, app: App) -> Response:
    archive, urls = app.service.archive, _Urls(app.settings.public_url)
    patient = archive.patient(orthanc_id(request.groups[0]))
    studies = archive.studies(patient.id)
    items = [Ref(urls.study(s.id), "Collection", study_label(s.tags),
                 urls.image_service(archive.first_image_series((s.id,))), _count(len(s.children), "series", "series"))
             for s in studies]
    links = Links(urls.patient(patient.id), urls.explorer("patient", patient.id),
                  f"{urls.public}patients/{patient.id}", urls.top())
    thumbnail = next((item.thumbnail for item in items if item.thumbnail), None)
    return _answer(request, collection(links, patient_label(patient.tags), _count(len(items), "study", "studies"),
                                       items, _metadata(patient.tags, PATIENT_FIELDS), thumbnail))


@with_cors
def get_study(request: Request, app: App) -> Response:
    archive, urls = app.service.archive, _Urls(app.settings.public_url)
    study = archive.study(orthanc_id(request.groups[0]))
    found = archive.image_series(study.id)
    items = [Ref(urls.manifest(s.entry.id), "Manifest", series_item_label({**study.tags, **s.entry.tags}),
                 urls.image_service(s), "Whole-slide image" if s.kind == "slide" else
                 _count(len(s.entry.children), "instance", "instances"))
             for s in found]
    links = Links(urls.study(study.id), urls.explorer("study", study.id), f"{urls.public}studies/{study.id}",
                  urls.patient(study.parent) if study.parent else "")
    summary = _count(len(items), "series with images", "series with images")
    return _answer(request, collection(links, study_label(study.tags), summary, items,
                                       _metadata(study.tags, STUDY_FIELDS), urls.image_service(found[0]) if found
                                       else None))


ROUTES: list[tuple[str, Handler]] = [
    (r"/wsi/iiif/collection\.json", get_archive),
    (rf"/wsi/iiif/collection/{SEGMENT}\.json", get_page),
    (rf"/wsi/iiif/patients/{SEGMENT}/collection\.json", get_patient),
    (rf"/wsi/iiif/studies/{SEGMENT}/collection\.json", get_study),
]


def routes_for(settings: object) -> list[tuple[str, Handler]]:
    return only_with_iiif(settings, ROUTES)
