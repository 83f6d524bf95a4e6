"""DicomizeJobs on the fake Orthanc module: stored through the adapter, undone when Orthanc refuses an instance
or the job is cancelled, bounded queue; multipart/mixed parts found by offset."""

from __future__ import annotations

import pytest
from PIL import Image
from wsi.adapter import OrthancAdapter
from wsi.dicomize_jobs import DicomizeJobs
from wsi.dicomizer.options import parse_options
from wsi.dicomizer.source import open_slide
from wsi.errors import BadRequest, Overloaded
from wsi.multipart import split_parts

from tests.support.fake_orthanc_module import FakeOrthancModule, OrthancException
from tests.support.slide_files import pattern


class RefusingOrthanc(FakeOrthancModule):
    """Refuses the n-th instance stored, as Orthanc does when its disk is full."""

    def __init__(self, refuse_at: int) -> None:
        super().__init__()
        self.refuse_at, self.posts = refuse_at, 0

    def RestApiPost(self, uri, body):  # the SDK's name
        self.posts += 1
        if self.posts == self.refuse_at:
            raise OrthancException(13, "Inexistent file or disk full")
        return super().RestApiPost(uri, body)


def _slide(tmp_path, size=(600, 400)):
    Image.fromarray(pattern(*size)).save(tmp_path / "s.png")
    return str(tmp_path / "s.png")


def _run(orthanc, tmp_path, **options):
    jobs = DicomizeJobs(OrthancAdapter(orthanc), 4, str(tmp_path))
    path = _slide(tmp_path)
    job = jobs.submit(open_slide(path), parse_options({"tile-size": "128", **options}), path, 1)
    assert job.done.wait(60)
    return job


def test_a_job_stores_every_instance(tmp_path):
    orthanc = FakeOrthancModule()
    job = _run(orthanc, tmp_path)
    assert job.state == "Success" and job.progress == 100 and job.series == "fake-series"
    assert len(job.instances) == 4 == len(orthanc.resources)  # 600x400 at 128: levels 600, 300, 150, 75 wide
    assert not (tmp_path / "s.png").exists()  # the spooled upload is removed


def test_orthanc_refusing_an_instance_undoes_the_others(tmp_path):
    orthanc = RefusingOrthanc(refuse_at=3)
    job = _run(orthanc, tmp_path)
    assert job.state == "Failure" and job.error_status == 502 and "refused" in job.error
    assert orthanc.resources == {} and job.instances == []


def test_cancel_before_it_runs(tmp_path):
    orthanc = FakeOrthancModule()
    jobs = DicomizeJobs(OrthancAdapter(orthanc), 4, str(tmp_path))
    path = _slide(tmp_path, (2000, 1500))
    first = jobs.submit(open_slide(path), parse_options({"compression": "jpeg2000"}), path, 1)
    second_path = str(tmp_path / "copy.png")
    Image.open(path).save(second_path)
    second = jobs.submit(open_slide(second_path), parse_options({}), second_path, 1)
    jobs.cancel(second.id)
    jobs.cancel(first.id)
    assert first.done.wait(60) and second.done.wait(60)
    assert second.state == "Cancelled" and first.state in ("Cancelled", "Success")
    assert (orthanc.resources == {}) == (first.state == "Cancelled")


def test_too_many_jobs_is_503(tmp_path):
    jobs = DicomizeJobs(OrthancAdapter(FakeOrthancModule()), 1, str(tmp_path))
    path = _slide(tmp_path, (3000, 2000))
    jobs.submit(open_slide(path), parse_options({"compression": "jpeg2000"}), path, 1)
    with pytest.raises(Overloaded):
        jobs.submit(open_slide(path), parse_options({}), path, 1)
    jobs.stop()


def test_multipart_parts_by_offset():
    body = (b"--b\r\nContent-Disposition: form-data; name=\"options\"\r\n\r\n{\"levels\": 2}\r\n"
            b"--b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; name=\"image\"; "
            b"filename=\"x.png\"\r\n\r\nPNGDATA\r\n--b--\r\n")
    options, image = split_parts(body, "multipart/mixed; boundary=b")
    assert (options.name, body[options.start:options.end]) == ("options", b'{"levels": 2}')
    assert (image.filename, body[image.start:image.end]) == ("x.png", b"PNGDATA")
    for broken in (body[:60], b"no delimiter"):
        with pytest.raises(BadRequest):
            split_parts(broken, "multipart/mixed; boundary=b")
