"""IIIF Collections of the archive on a real Orthanc: the whole Orthanc (paged), each patient, each study.

Three patients: one with a study holding a whole-slide series, a CT series and a report without pixels, and a
second study with a photograph; one with a CT study; one with only a report. Pages of two patients.
"""

from __future__ import annotations

import base64
import io
import json
import urllib.parse
from pathlib import Path

import jsonschema
import numpy as np
import pydicom
import pytest
from iiif_prezi3 import Collection
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.support.orthanc_server import OrthancServer, require_orthanc
from tests.support.radiology import dicom_image
from tests.support.writer import write_slide

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "plugin" / "wsi_plugin.py"
SCHEMA = json.loads((ROOT / "tests" / "data" / "iiif" / "iiif_3_0.json").read_text())
PAGE_SIZE = 2


def as_patient(data: bytes, patient_id: str, name: str) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.PatientID, ds.PatientName = patient_id, name
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def report(study: str, patient_id: str) -> bytes:
    """A Basic Text SR: a series without pixels, which no collection may list as a manifest."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.88.11", generate_uid()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.InstanceNumber = study, generate_uid(), 1
    ds.PatientID, ds.PatientName, ds.Modality = patient_id, "Report^Only", "SR"
    ds.StudyDate, ds.StudyDescription = "20240301", "Reported study"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def ct(rows: int, cols: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).integers(864, 1264, (rows, cols))).astype(np.uint16)


class Archive:
    """The uploaded data, by Orthanc id."""

    def __init__(self, server: OrthancServer, work: Path) -> None:
        self.server = server
        upload = self.upload
        s1, s2, s3, s4 = (generate_uid() for _ in range(4))
        image = np.random.default_rng(1).integers(0, 255, (768, 1024, 3), dtype=np.uint8)
        slide_files = write_slide(work / "slide", image, downsamples=(1, 2), study_uid=s1)
        self.slide = {upload(as_patient(p.read_bytes(), "P1", "Alpha^Ann"))["ParentSeries"] for p in slide_files}.pop()
        ct_series = generate_uid()
        ct_answers = [upload(as_patient(dicom_image(ct(64, 64, n), series=ct_series, study=s1, number=n),
                                        "P1", "Alpha^Ann")) for n in (1, 2)]
        self.ct = ct_answers[0]["ParentSeries"]
        self.study1 = ct_answers[0]["ParentStudy"]
        self.report1 = upload(report(s1, "P1"))["ParentSeries"]
        photo = np.random.default_rng(2).integers(0, 255, (300, 400, 3), dtype=np.uint8)
        answer = upload(as_patient(dicom_image(photo, series=generate_uid(), study=s2, number=1, modality="OT"),
                                   "P1", "Alpha^Ann"))
        self.photo, self.study2, self.patient1 = answer["ParentSeries"], answer["ParentStudy"], answer["ParentPatient"]
        answer = upload(as_patient(dicom_image(ct(80, 60, 3), series=generate_uid(), study=s3, number=1),
                                   "P2", "Beta^Bob"))
        self.patient2, self.study3 = answer["ParentPatient"], answer["ParentStudy"]
        answer = upload(report(s4, "P3"))
        self.patient3, self.study4 = answer["ParentPatient"], answer["ParentStudy"]

    def upload(self, data: bytes) -> dict:
        status, _, body = self.server.request("POST", "/instances", data, {"Content-Type": "application/dicom"})
        assert status == 200, body[:300]
        return json.loads(body)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    require_orthanc()
    work = tmp_path_factory.mktemp("collections")
    server = OrthancServer(PLUGIN, storage_dir=work / "orthanc", extra_config={"WholeSlideImaging": {
        "EnableIIIF": True, "IIIFCollectionPageSize": PAGE_SIZE, "ServeMirador": True}})
    server.config["WholeSlideImaging"]["OrthancPublicURL"] = server.url + "/"
    with server:
        yield Archive(server, work)


def get_collection(archive: Archive, url: str) -> dict:
    """GET a collection by its full URL; it must be valid against the official schema and iiif-prezi3."""
    path = url.removeprefix(archive.server.url)
    status, headers, body = archive.server.get(path)
    assert status == 200, (path, body[:300])
    assert headers["content-type"].startswith("application/ld+json"), headers
    assert headers["access-control-allow-origin"] == "*"
    found = json.loads(body)
    jsonschema.Draft7Validator(SCHEMA).validate(found)
    Collection(**found)
    assert found["type"] == "Collection" and found["id"] == url
    return found


def label(item: dict) -> str:
    return item["label"]["en"][0]


def test_top_collection_pages_the_patients(archive):
    url = archive.server.url
    top = get_collection(archive, f"{url}/wsi/iiif/collection.json")
    assert top["summary"]["en"][0].startswith("3 patients")
    assert [i["id"] for i in top["items"]] == [f"{url}/wsi/iiif/collection/{n}.json" for n in (1, 2)]
    assert [label(i) for i in top["items"]] == ["Patients 1 to 2 of 3", "Patients 3 to 3 of 3"]
    patients = []
    for page in top["items"]:
        found = get_collection(archive, page["id"])
        assert found["partOf"] == [{"id": f"{url}/wsi/iiif/collection.json", "type": "Collection"}]
        patients += found["items"]
    ids = {archive.patient1, archive.patient2, archive.patient3}
    assert {p["id"] for p in patients} == {f"{url}/wsi/iiif/patients/{i}/collection.json" for i in ids}
    by_id = {p["id"].split("/")[-2]: p for p in patients}
    assert label(by_id[archive.patient1]) == "Alpha Ann (P1)"
    assert by_id[archive.patient1]["summary"]["en"] == ["2 studies"]
    # A thumbnail from the first series with pixels; none for a patient who has only a report.
    assert "thumbnail" in by_id[archive.patient2] and "thumbnail" not in by_id[archive.patient3]


@pytest.mark.parametrize("page", ["0", "3", "x", "1" * 12, "-1"])
def test_pages_out_of_range_are_404(archive, page):
    status, headers, body = archive.server.get(f"/wsi/iiif/collection/{page}.json")
    assert status == 404, body
    assert headers["access-control-allow-origin"] == "*"
    assert b"page" in body


def test_patient_collection_lists_studies_with_thumbnails(archive):
    url = archive.server.url
    found = get_collection(archive, f"{url}/wsi/iiif/patients/{archive.patient1}/collection.json")
    assert label(found) == "Alpha Ann (P1)"
    assert {i["id"] for i in found["items"]} == {f"{url}/wsi/iiif/studies/{s}/collection.json"
                                                  for s in (archive.study1, archive.study2)}
    assert all(i["type"] == "Collection" and i["thumbnail"] for i in found["items"])
    assert found["homepage"][0]["id"] == f"{url}/app/explorer.html#patient?uuid={archive.patient1}"
    assert {"label": {"en": ["Patient ID"]}, "value": {"none": ["P1"]}} in found["metadata"]
    for item in found["items"]:
        thumb = item["thumbnail"][0]["id"].removeprefix(url)
        status, headers, body = archive.server.get(thumb)
        assert status == 200 and headers["content-type"] == "image/jpeg", (thumb, body[:200])
        assert max(Image.open(io.BytesIO(body)).size) <= 256


def test_study_collection_lists_series_with_pixels_as_manifests(archive):
    url = archive.server.url
    found = get_collection(archive, f"{url}/wsi/iiif/studies/{archive.study1}/collection.json")
    assert found["partOf"] == [{"id": f"{url}/wsi/iiif/patients/{archive.patient1}/collection.json",
                                "type": "Collection"}]
    manifests = {i["id"]: i for i in found["items"]}
    assert set(manifests) == {f"{url}/wsi/iiif/series/{s}/manifest.json" for s in (archive.slide, archive.ct)}
    slide_item = manifests[f"{url}/wsi/iiif/series/{archive.slide}/manifest.json"]
    assert slide_item["thumbnail"][0]["service"][0]["id"] == f"{url}/wsi/iiif/tiles/{archive.slide}"
    assert (slide_item["thumbnail"][0]["width"], slide_item["thumbnail"][0]["height"]) == (256, 192)
    for manifest_url, item in manifests.items():
        assert item["type"] == "Manifest"
        status, _, body = archive.server.get(manifest_url.removeprefix(url))
        assert status == 200, body[:200]
        manifest = json.loads(body)
        assert manifest["label"] == item["label"]  # the collection names a manifest as it names itself
        assert manifest["partOf"] == [{"id": found["id"], "type": "Collection"}]  # and the manifest its study
        status, headers, _ = archive.server.get(item["thumbnail"][0]["id"].removeprefix(url))
        assert status == 200 and headers["content-type"] == "image/jpeg"


def test_a_study_with_only_a_report_is_an_empty_collection(archive):
    url = archive.server.url
    found = get_collection(archive, f"{url}/wsi/iiif/studies/{archive.study4}/collection.json")
    assert found["items"] == [] and "thumbnail" not in found


@pytest.mark.parametrize("path", [
    "/wsi/iiif/patients/{study1}/collection.json",  # a study's id where a patient's is expected
    "/wsi/iiif/studies/{patient1}/collection.json",
    "/wsi/iiif/studies/{slide}/collection.json",
    "/wsi/iiif/patients/00000000-00000000-00000000-00000000-00000000/collection.json",
    "/wsi/iiif/studies/..%2F..%2Fsystem/collection.json",
    "/wsi/iiif/studies/x/collection.json",
])
def test_unknown_or_wrong_kind_of_resource_is_404(archive, path):
    path = path.format(study1=archive.study1, patient1=archive.patient1, slide=archive.slide)
    status, headers, body = archive.server.get(path)
    assert status == 404, (path, body)
    if "%2F" not in path:  # Orthanc decodes %2F to "/" before routing: no route of ours matches, it answers
        assert headers["access-control-allow-origin"] == "*"


def test_collections_follow_a_deletion(archive):
    """Nothing is cached: a deleted series leaves its study's collection at once."""
    server = archive.server
    study = generate_uid()
    answer = json.loads(server.request("POST", "/instances", as_patient(
        dicom_image(ct(32, 32, 9), series=generate_uid(), study=study, number=1), "P2", "Beta^Bob"),
        {"Content-Type": "application/dicom"})[2])
    url = f"{server.url}/wsi/iiif/studies/{answer['ParentStudy']}/collection.json"
    assert len(get_collection(archive, url)["items"]) == 1
    assert server.request("DELETE", f"/series/{answer['ParentSeries']}")[0] == 200
    assert server.get(url.removeprefix(server.url))[0] == 404  # the study went with its only series


class LoggedInServer(OrthancServer):
    """Sends alice's credentials unless the request has an Authorization header of its own."""

    def request(self, method, path, body=None, headers=None):
        token = base64.b64encode(b"alice:secret").decode()
        return super().request(method, path, body, {"Authorization": f"Basic {token}", **(headers or {})})


def test_collections_are_behind_authentication_and_off_without_iiif(tmp_path):
    require_orthanc()
    with LoggedInServer(PLUGIN, storage_dir=tmp_path / "auth", extra_config={
            "AuthenticationEnabled": True, "RegisteredUsers": {"alice": "secret"},
            "WholeSlideImaging": {"EnableIIIF": True}}) as server:
        for path in ("/wsi/iiif/collection.json", "/wsi/iiif/collection/1.json"):
            status, headers, _ = server.get(path, {"Authorization": "Basic bm9ib2R5Og=="})
            assert status == 401 and "www-authenticate" in headers, (path, status)
        status, _, body = server.get("/wsi/iiif/collection.json")
        assert status == 200 and json.loads(body)["items"] == []
        assert server.get("/wsi/iiif/collection/1.json")[0] == 200  # an empty archive still has its one page
    with OrthancServer(PLUGIN, storage_dir=tmp_path / "off",
                       extra_config={"WholeSlideImaging": {"EnableIIIF": False}}) as server:
        assert server.get("/wsi/iiif/collection.json")[0] == 404


def test_mirador_opens_a_study_collection_and_its_manifests(archive, playwright):
    chromium = "/usr/bin/chromium"
    if not (ROOT / "webassets" / "vendor" / "mirador").is_dir():
        pytest.skip("webassets/vendor is missing: run scripts/setup.sh test")
    url = archive.server.url
    collection = f"{url}/wsi/iiif/studies/{archive.study2}/collection.json"
    photo = f"/wsi/iiif/series/{archive.photo}/manifest.json"
    photo_label = json.loads(archive.server.get(photo)[2])["label"]["en"][0]
    browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
    errors, answers = [], []
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: answers.append((r.url, r.status)) if "/wsi/iiif/" in r.url else None)
        page.goto(f"{url}/wsi/app/mirador.html?manifest={urllib.parse.quote(collection, safe='')}")
        page.get_by_role("button", name="Show collection").last.click(timeout=60_000)
        # Mirador lists the study's manifests, or first its parent's (the patient's, from partOf) studies when
        # it has read the parent by then: choosing the study lists its manifests; choosing one opens it.
        dialog = page.get_by_role("dialog")
        manifest_item = dialog.get_by_text(photo_label, exact=True)
        study_item = dialog.get_by_text("20240102 - IIIF study", exact=True)
        manifest_item.or_(study_item).first.wait_for(timeout=60_000)
        if not manifest_item.count():
            study_item.click()
        manifest_item.click(timeout=60_000)
        page.wait_for_function("() => document.querySelector('.openseadragon-canvas canvas') !== null",
                               timeout=60_000)
        page.wait_for_timeout(1500)
    finally:
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=str(ROOT / "test-artifacts" / "mirador-study-collection.png"))
        browser.close()
    assert not errors, errors
    assert (collection, 200) in answers
    assert (f"{url}{photo}", 200) in answers
    assert any(u.startswith(f"{url}/wsi/iiif/frames/") and u.endswith(".jpg") for u, _ in answers), answers
    assert all(status == 200 for _, status in answers), answers
