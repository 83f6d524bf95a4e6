"""POST /wsi/dicomize (a slide in, a conversion job out), the jobs' routes and the sample dataset."""

from __future__ import annotations

import os
import re
import tempfile
from typing import TYPE_CHECKING

from . import json_input
from .errors import BadRequest, PayloadTooLarge, UnsupportedFeature, WsiError
from .http import SEGMENT, Request, Response, json_response, text_response
from .multipart import is_multipart, split_parts

if TYPE_CHECKING:
    from .app import App

_JOB_ID = re.compile(r"[0-9a-f]{32}")
SYNCHRONOUS_WAIT_SECONDS = 3600
_NOT_OPTIONS = {"synchronous"}
# Orthanc's plugin SDK passes query parameters for GET only (OrthancPluginHttpRequest.getCount): a POST's
# options come in this header (query syntax or a JSON object) or in the "options" part of a multipart body.
OPTIONS_HEADER = "x-wsi-options"


def _jobs(app: App):
    if app.dicomize is None:
        raise UnsupportedFeature("the DICOM-izer is not available in this server")
    return app.dicomize


def dicomize(request: Request, app: App) -> Response:
    """Spool the slide to disk, check it and the options, queue the conversion: 202 with the job."""
    # Imported here: pydicom and tifffile would add their import time to every Orthanc start.
    from .dicomizer.dataset import check_overrides
    from .dicomizer.options import parse_options
    from .dicomizer.source import open_slide

    jobs = _jobs(app)
    limit = app.settings.dicomize_max_body_mb << 20
    body = request.body
    if len(body) > limit:
        raise PayloadTooLarge(f"the slide is {len(body)} bytes, over {app.settings.dicomize_max_body_mb} MB "
                              "(WholeSlideImaging.DicomizeMaxBodyMB); convert it with the command instead")
    values = {**request.query, **_header_options(request.header(OPTIONS_HEADER))}
    start, end, suffix = 0, len(body), ""
    if is_multipart(request.header("content-type")):
        image = None
        for part in split_parts(body, request.header("content-type")):
            if part.filename is None and part.name == "options":
                values.update(_json_options(body[part.start:part.end]))
            elif image is None and part.end > part.start:
                image = part
        if image is None:
            raise BadRequest("no image part in the multipart body", "body")
        start, end = image.start, image.end
        suffix = os.path.splitext(image.filename or "")[1][:10] if re.fullmatch(
            r"[\w.-]*", image.filename or "") else ""
    if end <= start:
        raise BadRequest("send the slide image as the request body", "body")
    synchronous = str(values.get("synchronous", "")).lower() in ("1", "true", "yes")
    options = parse_options({k: v for k, v in values.items() if k not in _NOT_OPTIONS})
    check_overrides(options.dataset)
    check_overrides(options.patient)
    path = _spool(memoryview(body)[start:end], jobs.spool_folder, suffix)
    try:
        slide = open_slide(path)
    except BaseException:
        os.unlink(path)
        raise
    job = jobs.submit(slide, options, path, end - start)
    if not synchronous:
        return json_response({"ID": job.id, "Path": f"/wsi/jobs/{job.id}", "State": job.state}, 202)
    job.done.wait(SYNCHRONOUS_WAIT_SECONDS)
    answer = job.as_json()
    if job.state == "Failure":
        return text_response(job.error_status or 500, job.error)
    return json_response(answer, 200 if job.state == "Success" else 409)


def _header_options(text: str) -> dict:
    if not text.strip():
        return {}
    if text.lstrip().startswith("{"):
        return _json_options(text.encode())
    from urllib.parse import parse_qsl

    try:
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True, max_num_fields=64))
    except ValueError:
        raise BadRequest("not name=value pairs joined by &", "X-WSI-Options") from None


def _json_options(raw: bytes) -> dict:
    try:
        values = json_input.loads(raw, "options")
    except ValueError:
        raise BadRequest("the options part is not valid JSON", "options") from None
    if not isinstance(values, dict):
        raise BadRequest("the options part must be a JSON object", "options")
    return {str(k): v for k, v in values.items()}


def _spool(data: memoryview, folder: str | None, suffix: str) -> str:
    """The body to a file; a folder missing or full is the server's problem (500, logged), not the client's."""
    try:
        handle, path = tempfile.mkstemp(prefix="wsi-upload-", suffix=suffix, dir=folder)
    except OSError as error:
        raise WsiError(f"no room to spool the slide (DicomizeSpoolFolder: {error.strerror})") from None
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
    except OSError as error:
        os.unlink(path)
        raise WsiError(f"the slide could not be spooled to disk (DicomizeSpoolFolder: {error.strerror})") from None
    return path


def _job_id(request: Request) -> str:
    job_id = request.groups[0]
    if not _JOB_ID.fullmatch(job_id):
        raise BadRequest("not a job id", "job")
    return job_id


def job_status(request: Request, app: App) -> Response:
    return json_response(_jobs(app).get(_job_id(request)).as_json())


def job_cancel(request: Request, app: App) -> Response:
    return json_response(_jobs(app).cancel(_job_id(request)).as_json())


def job_list(request: Request, app: App) -> Response:
    return json_response([job.as_json() for job in _jobs(app).all()])


def sample_dataset(request: Request, app: App) -> Response:
    from .dicomizer.dataset import SAMPLE

    return json_response(SAMPLE)


dicomize.methods = job_cancel.methods = ("POST",)  # type: ignore[attr-defined]  # routes.dispatch
ROUTES = [
    ("/wsi/dicomize", dicomize),
    ("/wsi/dicomize/sample-dataset", sample_dataset),
    ("/wsi/jobs", job_list),
    (f"/wsi/jobs/{SEGMENT}", job_status),
    (f"/wsi/jobs/{SEGMENT}/cancel", job_cancel),
]
