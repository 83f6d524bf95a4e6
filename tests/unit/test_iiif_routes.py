"""IIIF route handlers against a small fake SlideService (no Orthanc)."""

import io
import json
import re
import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from wsi.cache import Memo
from wsi.config import Settings
from wsi.errors import NotFound
from wsi.http import Request
from wsi.iiif_routes import ROUTES, get_frames, get_manifest, get_tiles, routes_for
from wsi.pyramid import Level, Pyramid
from wsi.radiology import FrameInfo, RadiologyFrames
from wsi.render_gate import RenderGate
from wsi.service import ImageSource, SlideService

SLIDE = "11111111-22222222-33333333-44444444-55555555"
CT = "aaaaaaaa-bbbbbbbb-cccccccc-dddddddd-eeeeeeee"
CT_INSTANCES = ["0000000a-0000000b-0000000c-0000000d-0000000e", "1000000a-0000000b-0000000c-0000000d-0000000e",
                "2000000a-0000000b-0000000c-0000000d-0000000e"]
UNKNOWN = "ffffffff-ffffffff-ffffffff-ffffffff-ffffffff"
PUBLIC = "https://proxy.example.org/pacs/"


def slide_pixels(width: int, height: int) -> np.ndarray:
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs % 256, ys % 256, (xs // 64 + ys // 64) % 2 * 200], -1).astype(np.uint8)


class FakeRadiology(RadiologyFrames):
    """Real virtual pyramids of frames (RadiologyFrames.reader) over the fake's in-memory displayed frames."""

    def __init__(self, fake: "FakeService", levels: Memo) -> None:
        super().__init__(None, fake, None, levels, levels)
        self.fake = fake

    def ordered_frames(self, series_id):
        return self.fake.ordered_frames(series_id)

    def locate(self, resource_id, index):
        return self.fake.locate(resource_id, index)

    def display_pixels(self, instance_id, frame):
        self.fake.reads.append((instance_id, frame))
        return self.fake.frames[(instance_id, frame)]


class FakeService(SlideService):
    """A real SlideService (answers, renders, the gate) over in-memory images instead of Orthanc's frames."""

    def __init__(self) -> None:
        super().__init__(None, 128 << 20)
        self.tile = 128
        self.delay = 0.0  # seconds per tile read
        self.reads: list = []
        base = slide_pixels(1000, 700)
        self.levels = [base, base[::2, ::2].copy(), base[::4, ::4].copy()]
        small = (np.arange(300 * 200) % 251).astype(np.uint8).reshape(200, 300)
        tall = (np.arange(400 * 500) % 253).astype(np.uint8).reshape(500, 400)
        big = np.zeros((3000, 2500), np.uint8)
        big[:1500] = 200
        # Ordered series: a small single-frame instance, a two-frame instance, a big radiograph.
        self.frames = {(CT_INSTANCES[0], 0): small, (CT_INSTANCES[1], 0): tall, (CT_INSTANCES[1], 1): 255 - tall,
                       (CT_INSTANCES[2], 0): big}
        self.level_cache = Memo(64 << 20)
        self.series = self
        self.radiology = FakeRadiology(self, self.level_cache)

    # ---- whole-slide
    def series_model(self, series_id):
        if series_id == SLIDE:
            return self.wsi_model(series_id)
        if series_id == CT:
            return None
        raise NotFound(series_id)

    def wsi_model(self, series_id):
        if series_id != SLIDE:
            raise NotFound(f"series {series_id} is not a whole-slide image")
        pyramid = Pyramid(tuple(Level(p.shape[1], p.shape[0], self.tile, self.tile) for p in self.levels))
        return SimpleNamespace(series_id=SLIDE, pyramid=pyramid, levels=list(pyramid.levels),
                               revision=(("i1", "v1"), ("i2", "v1")), associated={}, version="0123456789abcdef")

    def slide_image(self, model):
        return ImageSource(("slide", SLIDE, model.revision), model.pyramid, self.read_tile_rgb)

    def read_tile_rgb(self, level, tx, ty):
        self.reads.append(level)
        time.sleep(self.delay)
        t = self.tile
        out = np.full((t, t, 3), 255, np.uint8)
        part = self.levels[level][ty * t:(ty + 1) * t, tx * t:(tx + 1) * t]
        out[: part.shape[0], : part.shape[1]] = part
        return out

    def series_tags(self, series_id):
        if series_id not in (SLIDE, CT):
            raise NotFound(series_id)
        modality = "SM" if series_id == SLIDE else "CT"
        return {"StudyDate": "20240101", "Modality": modality, "StudyDescription": "Study",
                "SeriesDescription": "Series", "PatientID": "42"}

    # ---- frames
    def ordered_frames(self, series_id):
        if series_id == SLIDE:  # Orthanc orders a slide's instances too: their frames are tiles
            return [FrameInfo(CT_INSTANCES[0], 0, self.tile, self.tile)]
        if series_id != CT:
            raise NotFound(series_id)
        return [FrameInfo(i, f, p.shape[0], p.shape[1]) for (i, f), p in self.frames.items()]

    def locate(self, resource_id, index):
        if resource_id == SLIDE:
            raise NotFound("whole-slide")
        if resource_id == CT:
            frames = self.ordered_frames(CT)
            if index >= len(frames):
                raise NotFound(f"series {CT} has {len(frames)} frames")
            return frames[index]
        if (resource_id, index) not in self.frames:
            raise NotFound(f"no frame {index} of {resource_id}")
        rows, columns = self.frames[(resource_id, index)].shape[:2]
        return FrameInfo(resource_id, index, rows, columns)

    def instance_version(self, instance_id):
        return "v1"


@pytest.fixture
def app():
    settings = Settings(public_url=PUBLIC, iiif_max_width=2000, iiif_max_height=2000, iiif_max_area=2_000_000)
    return SimpleNamespace(settings=settings, service=FakeService(), renders=RenderGate())


def call(app, path: str, headers: dict | None = None):
    for pattern, handler in ROUTES:
        match = re.fullmatch(pattern, path)
        if match:
            return handler(Request("GET", path, match.groups(), {}, headers or {}), app)
    raise AssertionError(f"no route for {path}")


def image(response) -> Image.Image:
    assert response.status == 200, response.body
    return Image.open(io.BytesIO(response.body))


# ---- whole-slide image service -----------------------------------------------------------------------------

def test_a_render_finding_no_place_answers_503_with_retry_after_and_cors(app):
    app.renders = RenderGate(slots=1, queue_seconds=0, large_pixels=4096, release=lambda: None)
    with app.renders.admit(10**6, 0):  # another request holds the only large place
        response = call(app, f"/wsi/iiif/tiles/{SLIDE}/full/300,/0/default.png")
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert b"IIIFMaxConcurrentRenders" in response.body
    assert call(app, f"/wsi/iiif/tiles/{SLIDE}/full/300,/0/default.png").status == 200  # place given back


def test_concurrent_identical_renders_compute_once_and_waiters_hold_no_place(app):
    """16 requests for one image through a gate with a single place and no queue: one renders, all get it."""
    app.renders = RenderGate(slots=1, queue_seconds=0, large_pixels=1, release=lambda: None)
    app.service.delay = 0.01
    barrier, answers = threading.Barrier(16), []

    def one():
        barrier.wait()
        answers.append(call(app, f"/wsi/iiif/tiles/{SLIDE}/full/300,/0/default.png"))

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [a.status for a in answers] == [200] * 16 and len({a.body for a in answers}) == 1
    assert len(app.service.reads) == 12  # the 4x3 tiles of level 1, read once


def test_base_uri_redirects_to_info_json(app):
    for path in (f"/wsi/iiif/tiles/{SLIDE}", f"/wsi/iiif/tiles/{SLIDE}/"):
        response = call(app, path)
        assert response.status == 303
        assert response.headers["Location"] == f"{PUBLIC}wsi/iiif/tiles/{SLIDE}/info.json"
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_info_json(app):
    response = call(app, f"/wsi/iiif/tiles/{SLIDE}/info.json")
    assert response.status == 200
    assert response.content_type == 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    info = json.loads(response.body)
    assert info["id"] == f"{PUBLIC}wsi/iiif/tiles/{SLIDE}"
    assert (info["width"], info["height"]) == (1000, 700)
    assert info["tiles"] == [{"type": "Tile", "width": 128, "height": 128, "scaleFactors": [1, 2, 4]}]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["ETag"] and "max-age" in response.headers["Cache-Control"]


def test_info_json_as_plain_json_when_asked(app):
    response = call(app, f"/wsi/iiif/tiles/{SLIDE}/info.json", {"accept": "application/json"})
    assert response.content_type == "application/json"
    both = call(app, f"/wsi/iiif/tiles/{SLIDE}/info.json", {"accept": "application/ld+json, application/json"})
    assert both.content_type.startswith("application/ld+json")


def test_image_request(app):
    response = call(app, f"/wsi/iiif/tiles/{SLIDE}/0,0,256,256/128,/0/default.jpg")
    assert image(response).size == (128, 128)
    assert response.content_type == "image/jpeg"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert f'<{PUBLIC}wsi/iiif/tiles/{SLIDE}/0,0,256,256/128,128/0/default.jpg>;rel="canonical"' in \
        response.headers["Link"]
    assert app.service.reads and set(app.service.reads) == {1}  # half-size: read from level 1 only


def test_lossless_png_is_exact(app):
    response = call(app, f"/wsi/iiif/tiles/{SLIDE}/100,200,300,150/max/0/default.png")
    assert np.array_equal(np.asarray(image(response)), app.service.levels[0][200:350, 100:400])


def test_thumbnail_reads_only_the_coarsest_level(app):
    assert image(call(app, f"/wsi/iiif/tiles/{SLIDE}/full/,120/0/default.jpg")).size == (171, 120)
    assert set(app.service.reads) == {2}


def test_rendered_images_are_cached_and_revalidated(app):
    path = f"/wsi/iiif/tiles/{SLIDE}/full/pct:10/0/default.jpg"
    first = call(app, path)
    reads = len(app.service.reads)
    again = call(app, f"/wsi/iiif/tiles/{SLIDE}/full/100,70/0/default.jpg")  # same canonical form
    assert again.body == first.body and len(app.service.reads) == reads
    revalidated = call(app, path, {"if-none-match": first.headers["ETag"]})
    assert revalidated.status == 304 and revalidated.body == b""
    assert revalidated.headers["Access-Control-Allow-Origin"] == "*"
    assert call(app, path, {"if-none-match": '"other"'}).status == 200


def test_renders_may_be_streamed_the_rest_never(app):
    """Images are marked streamable (the adapter streams the large ones on orthanc-python 5.0); JSON, redirects,
    revalidations and errors are not; StreamLargeAnswers false marks nothing."""
    png = f"/wsi/iiif/tiles/{SLIDE}/full/max/0/default.png"
    render = call(app, png)
    assert render.status == 200 and render.stream
    for path, headers in ((f"/wsi/iiif/tiles/{SLIDE}/info.json", {}), (f"/wsi/iiif/tiles/{SLIDE}", {}),
                          (png, {"if-none-match": render.headers["ETag"]}),
                          (f"/wsi/iiif/tiles/{SLIDE}/full/max/0/default.abc", {}),
                          (f"/wsi/iiif/series/{SLIDE}/manifest.json", {})):
        assert not call(app, path, headers).stream, path
    app.settings = replace(app.settings, stream_large_answers=False)
    assert not call(app, png).stream


@pytest.mark.parametrize(("tail", "status"), [
    ("full/max/0/default.jpg", 200),
    ("full/full/0/default.jpg", 400),  # 2.x syntax
    ("full/2000,/0/default.jpg", 400),  # upscaling without ^
    ("full/^2001,/0/default.jpg", 400),  # over maxWidth
    ("full/^max/0/default.jpg", 200),
    ("1000,0,10,10/max/0/default.jpg", 400),  # outside the image
    ("full/max/45/default.png", 200),
    ("full/max/400/default.jpg", 400),
    ("full/max/0/grey.jpg", 400),
    ("full/max/0/default.abc", 400),
    ("full/max/0/default", 400),
    ("full/max/0", 400),
    ("ab/cd/max/0/default.jpg", 400),  # Orthanc turned a backslash into a slash: still 400
    ("info.json/extra", 400),
])
def test_statuses(app, tail, status):
    response = call(app, f"/wsi/iiif/tiles/{SLIDE}/{tail}")
    assert response.status == status, response.body
    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", [
    f"/wsi/iiif/tiles/{UNKNOWN}/info.json",
    f"/wsi/iiif/tiles/{UNKNOWN}/full/max/0/default.jpg",
    "/wsi/iiif/tiles/a/b/info.json",  # validator: an unescaped slash in the identifier
    "/wsi/iiif/tiles/[frob]/info.json",
    "/wsi/iiif/tiles/6f1ed1b4-8f2a-11ef-9e6c-0242ac120002/info.json",  # a UUID is not an Orthanc id
    f"/wsi/iiif/tiles/{CT.upper()}/info.json",  # Orthanc ids are lowercase
    f"/wsi/iiif/tiles/{CT}/info.json",  # not a whole-slide series
])
def test_unknown_images_are_404(app, path):
    response = call(app, path)
    assert response.status == 404
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_disabled(app):
    app.settings = replace(app.settings, enable_iiif=False)
    assert routes_for(app.settings) == []
    assert call(app, f"/wsi/iiif/tiles/{SLIDE}/info.json").status == 404
    assert routes_for(replace(app.settings, enable_iiif=True)) == ROUTES


# ---- frames -----------------------------------------------------------------------------------------------------

def test_frames_by_series_index_follow_the_ordered_series(app):
    info = json.loads(call(app, f"/wsi/iiif/frames/{CT}/1/info.json").body)
    assert info["id"] == f"{PUBLIC}wsi/iiif/frames/{CT}/1"
    assert (info["width"], info["height"]) == (400, 500)
    png = call(app, f"/wsi/iiif/frames/{CT}/1/full/max/0/default.png")
    assert np.array_equal(np.asarray(image(png)), app.service.frames[(CT_INSTANCES[1], 0)])
    assert call(app, f"/wsi/iiif/frames/{CT}/4/info.json").status == 404


def test_frames_by_instance_and_frame_number(app):
    """The C++ plugin's form: /wsi/iiif/frames/{instanceId}/{frame}."""
    info = json.loads(call(app, f"/wsi/iiif/frames/{CT_INSTANCES[1]}/1/info.json").body)
    assert info["id"] == f"{PUBLIC}wsi/iiif/frames/{CT_INSTANCES[1]}/1"
    assert (info["width"], info["height"]) == (400, 500)
    png = call(app, f"/wsi/iiif/frames/{CT_INSTANCES[1]}/1/full/max/0/default.png")
    assert np.array_equal(np.asarray(image(png)), app.service.frames[(CT_INSTANCES[1], 1)])
    assert call(app, f"/wsi/iiif/frames/{CT_INSTANCES[0]}/1/info.json").status == 404


def test_big_frame_is_tiled_and_served_by_tiles(app):
    info = json.loads(call(app, f"/wsi/iiif/frames/{CT}/3/info.json").body)
    assert info["tiles"] == [{"type": "Tile", "width": 512, "height": 512, "scaleFactors": [1, 2, 4, 8]}]
    tile = image(call(app, f"/wsi/iiif/frames/{CT}/3/2048,0,452,2048/57,256/0/default.png"))
    assert tile.size == (57, 256)
    pixels = np.asarray(tile)
    assert pixels.ndim == 2 and pixels[:150].min() > 190 and pixels[200:].max() < 10
    thumb = image(call(app, f"/wsi/iiif/frames/{CT}/3/full/,120/0/default.jpg"))
    assert thumb.size == (100, 120)
    # The displayed frame is read through the service (which caches it); downscaled levels are cached too.
    assert len(app.service.level_cache) >= 1


@pytest.mark.parametrize("path", [
    f"/wsi/iiif/frames/{CT}",
    f"/wsi/iiif/frames/{CT}/x/info.json",
    f"/wsi/iiif/frames/{UNKNOWN}/0/info.json",
    "/wsi/iiif/frames/zz/0/info.json",
    f"/wsi/iiif/frames/{SLIDE}/0/info.json",  # a whole-slide series has one service, under tiles/
])
def test_frame_identifier_errors_are_404(app, path):
    assert call(app, path).status == 404


def test_frame_base_uri_redirects(app):
    response = call(app, f"/wsi/iiif/frames/{CT}/0")
    assert (response.status, response.headers["Location"]) == (303, f"{PUBLIC}wsi/iiif/frames/{CT}/0/info.json")


# ---- manifests ---------------------------------------------------------------------------------------------------

def test_whole_slide_manifest(app):
    response = call(app, f"/wsi/iiif/series/{SLIDE}/manifest.json")
    manifest = json.loads(response.body)
    assert response.content_type.startswith("application/ld+json")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert manifest["id"] == f"{PUBLIC}wsi/iiif/series/{SLIDE}/manifest.json"
    assert manifest["label"] == {"en": ["20240101 - SM - Study - Series"]}
    assert [(c["width"], c["height"]) for c in manifest["items"]] == [(1000, 700)]
    # The image service is the slide at its current version (immutable answers, 404 once it changes).
    service = manifest["items"][0]["items"][0]["items"][0]["body"]["service"][0]["id"]
    assert service == f"{PUBLIC}wsi/iiif/tiles/{SLIDE}@0123456789abcdef"


def test_frames_manifest(app):
    manifest = json.loads(call(app, f"/wsi/iiif/series/{CT}/manifest.json").body)
    assert manifest["behavior"] == ["individuals"]
    assert [(c["width"], c["height"]) for c in manifest["items"]] == [(300, 200), (400, 500), (400, 500),
                                                                      (2500, 3000)]
    services = [c["items"][0]["items"][0]["body"]["service"][0]["id"] for c in manifest["items"]]
    assert services == [f"{PUBLIC}wsi/iiif/frames/{CT}/{i}" for i in range(4)]


@pytest.mark.parametrize("series", [UNKNOWN, "nope", ""])
def test_manifest_of_unknown_series_is_404(app, series):
    assert call(app, f"/wsi/iiif/series/{series}/manifest.json").status == 404


def test_handlers_are_the_routes():
    assert {handler for _, handler in ROUTES} == {get_tiles, get_frames, get_manifest}
