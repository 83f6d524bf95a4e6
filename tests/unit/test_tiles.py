"""The tile service end to end on a fake Orthanc: routes, negotiation, errors, caching."""

import io
import logging
import threading
import time

import imagecodecs
import numpy as np
import pytest
from fake_orthanc import EXPLICIT, JPEG, FakeOrthanc, orthanc_id, tile_frames, wsi_tags
from PIL import Image
from wsi.app import App, build_app
from wsi.config import Settings
from wsi.errors import UpstreamError
from wsi.http import Request
from wsi.iiif_routes import get_frames, get_tiles
from wsi.markers import jpeg_header
from wsi.routes import dispatch
from wsi.series import WSI_SOP_CLASS
from wsi.service import SlideService
from wsi.tiles import get_associated, get_pyramid, get_tile


def source(width, height, seed=1):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([(x * 3) % 256, (y * 5) % 256, (x + y) % 256], -1).astype(np.uint8)
    return np.clip(image.astype(int) + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)


def native_tags(width, height, tile, **kw):
    tags = wsi_tags(width, height, tile, **kw)
    tags["0028,0004"] = "RGB"
    return tags


@pytest.fixture
def world():
    fake = FakeOrthanc()
    image = source(600, 400)
    half = image[::2, ::2]
    levels = [(wsi_tags(600, 400, 256), JPEG, tile_frames(image, 256, JPEG)),
              (native_tags(300, 200, 128), EXPLICIT, tile_frames(half, 128, EXPLICIT)),
              (native_tags(120, 80, 120, flavor="LABEL", frames=1), EXPLICIT,
               tile_frames(image[:80, :120], 120, EXPLICIT))]
    series_id, ids = fake.add_series(levels, WSI_SOP_CLASS)
    ct = [({"0028,0010": "4", "0028,0011": "4"}, EXPLICIT, [b"\0" * 16])]
    ct_id, _ = fake.add_series(ct, "1.2.840.10008.5.1.4.1.1.2")
    app = build_app(Settings(cache_size_mb=16), fake)
    return fake, app, series_id, ct_id, image, ids


def call(app, handler, *groups, headers=None, query=None):
    path = f"/wsi/{handler.__name__}/" + "/".join(groups)  # distinct per resource, as Orthanc's URIs are
    return dispatch(handler, Request("GET", path, tuple(groups), query or {}, headers or {}), app)


def decode(body):
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def test_pyramid_json(world):
    _, app, series_id, _, _, _ = world
    response = call(app, get_pyramid, series_id)
    assert response.status == 200
    import json
    body = json.loads(response.body)
    assert body["ID"] == series_id
    assert body["Sizes"] == [[600, 400], [300, 200]] and body["Resolutions"] == [1.0, 2.0]
    assert body["TilesCount"] == [[3, 2], [3, 2]] and body["TilesSizes"] == [[256, 256], [128, 128]]
    assert (body["TotalWidth"], body["TotalHeight"], body["TileWidth"]) == (600, 400, 256)
    assert body["BackgroundColor"] == "#ffffff" and body["AssociatedImages"] == ["label"]
    assert body["Tags"]["Modality"] == "SM" and body["Tags"]["StudyDate"] == "20260101"


def test_jpeg_tile_passes_through_unchanged(world):
    fake, app, series_id, _, _, ids = world
    response = call(app, get_tile, series_id, "0", "2", "1")
    assert response.status == 200 and response.content_type == "image/jpeg"
    assert response.body == fake.paths[f"/instances/{ids[0]}/frames/5/raw"]


def test_native_tile_is_png_and_exact(world):
    _, app, series_id, _, image, _ = world
    response = call(app, get_tile, series_id, "1", "2", "1")
    assert response.content_type == "image/png"
    pixels = decode(response.body)
    assert pixels.shape == (128, 128, 3)  # edge tiles keep their full stored size
    expected = image[::2, ::2][128:200, 256:300]
    assert np.array_equal(pixels[:72, :44], expected)


def test_accept_asks_png_or_jpeg(world):
    fake, app, series_id, _, _, ids = world
    png = call(app, get_tile, series_id, "0", "0", "0", headers={"accept": "image/png"})
    assert png.content_type == "image/png"
    reference = decode(fake.paths[f"/instances/{ids[0]}/frames/0/raw"]).astype(int)  # Pillow's own JPEG decoder
    assert np.abs(decode(png.body).astype(int) - reference).mean() < 1.5
    jpeg = call(app, get_tile, series_id, "1", "0", "0", headers={"accept": "image/jpeg"})
    assert jpeg.content_type == "image/jpeg" and jpeg.body[:2] == b"\xff\xd8"
    assert call(app, get_tile, series_id, "0", "0", "0", headers={"accept": "text/html"}).status == 406


@pytest.mark.parametrize(("groups", "status"), [
    (("0", "3", "0"), 404), (("0", "0", "2"), 404), (("2", "0", "0"), 404), (("-1", "0", "0"), 400),
    (("a", "0", "0"), 400), (("0", "1.5", "0"), 400), (("0", "", "0"), 400), (("0", "9" * 12, "0"), 400),
])
def test_bad_tile_indices(world, groups, status):
    _, app, series_id, _, _, _ = world
    assert call(app, get_tile, series_id, *groups).status == status


def test_bad_and_unknown_ids(world):
    fake, app, _, ct_id, _, _ = world
    assert call(app, get_pyramid, "../../system").status == 400
    assert call(app, get_pyramid, "ABCDEF").status == 400
    assert call(app, get_pyramid, orthanc_id()).status == 404
    assert call(app, get_pyramid, ct_id).status == 404
    assert not any("system" in uri for uri in fake.calls)


def test_query_options_are_validated(world):
    _, app, series_id, _, _, _ = world
    assert call(app, get_tile, series_id, "0", "0", "0", query={"optical-path": "nope"}).status == 400
    assert call(app, get_tile, series_id, "0", "0", "0", query={"focal-plane": "3"}).status == 400
    assert call(app, get_tile, series_id, "0", "0", "0", query={"focal-plane": "x"}).status == 400
    assert call(app, get_tile, series_id, "0", "0", "0", query={"focal-plane": "0", "optical-path": "1"}).status == 200


def test_associated_label(world):
    _, app, series_id, _, image, _ = world
    response = call(app, get_associated, series_id, "label")
    assert response.status == 200 and np.array_equal(decode(response.body), image[:80, :120])
    assert response.stream  # an overview can be large: the adapter streams it on orthanc-python 5.0 when it is
    assert call(app, get_associated, series_id, "thumbnail").status == 404
    assert call(app, get_associated, series_id, "secret").status == 400


def test_model_is_cached_and_rebuilt_when_instances_change(world):
    fake, app, series_id, _, _, ids = world
    call(app, get_pyramid, series_id)
    tag_reads = sum("tags?short" in c for c in fake.calls)
    app.service.on_change()
    call(app, get_pyramid, series_id)
    assert sum("tags?short" in c for c in fake.calls) == tag_reads  # same instances: no rebuild
    fake.list_instances(series_id, ids[:1])
    app.service.on_change()
    import json
    assert json.loads(call(app, get_pyramid, series_id).body)["Sizes"] == [[600, 400]]


def test_repeated_request_is_answered_from_cache_until_the_series_changes(world):
    fake, app, series_id, _, _, _ = world
    first = call(app, get_tile, series_id, "1", "0", "0")
    calls = len(fake.calls)
    assert call(app, get_tile, series_id, "1", "0", "0") is first
    assert len(fake.calls) == calls  # no Orthanc request at all
    app.service.on_change()  # something changed somewhere: the series is checked once more
    assert call(app, get_tile, series_id, "1", "0", "0").body == first.body
    assert f"/series/{series_id}/instances" in fake.calls[calls:]


def test_fast_path_answers_only_what_get_tile_cached(world):
    _, app, series_id, _, _, _ = world
    from wsi.tiles import cached_tile

    raw = {"method": "GET", "headers": {"accept": "image/png"}, "get": {}}
    path = f"/wsi/get_tile/{series_id}/1/0/0"
    assert cached_tile(app, path, raw) is None  # never asked yet
    first = call(app, get_tile, series_id, "1", "0", "0", headers={"accept": "image/png"})
    assert cached_tile(app, path, raw) is first
    assert cached_tile(app, path, {**raw, "headers": {"accept": "image/jpeg"}}) is None
    assert cached_tile(app, path, {**raw, "method": "POST"}) is None
    app.service.on_change()
    assert cached_tile(app, path, raw) is None  # the series must be checked again first


def test_sparse_hole_is_background(world):
    fake = FakeOrthanc()
    image = source(512, 256)
    frames = tile_frames(image, 256, EXPLICIT)
    tags = native_tags(512, 256, 256, organization="TILED_SPARSE", positions=[(257, 1, 0.0, "1")],
                       lab=(0, 32896, 32896))
    series_id, _ = fake.add_series([(tags, EXPLICIT, frames[1:])], WSI_SOP_CLASS)
    app = build_app(Settings(cache_size_mb=16), fake)
    hole = decode(call(app, get_tile, series_id, "0", "0", "0").body)
    assert hole.shape == (256, 256, 3) and not hole.any()  # black: the recommended absent pixel colour
    assert np.array_equal(decode(call(app, get_tile, series_id, "0", "1", "0").body), image[:, 256:])


# ---- a series stored again with the same UIDs (same ids) but other pixels ------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fresh_app(fake, settings=None, clock=None) -> App:
    settings = settings or Settings(cache_size_mb=16, series_check_seconds=5.0)
    return App(settings, SlideService(fake, 16 << 20, settings.series_check_seconds, clock=clock or Clock()))


def iiif(app, handler, tail):
    return dispatch(handler, Request("GET", f"/wsi/iiif/{handler.__name__}/{tail}", (tail,), {}, {}), app)


def whole_slide_answers(app, series_id):
    """One answer per route and cache: pass-through, decoded and IIIF-rendered tiles, associated image."""
    return {
        "stored jpeg tile": call(app, get_tile, series_id, "0", "1", "0"),
        "decoded tile as png": call(app, get_tile, series_id, "0", "0", "0", headers={"accept": "image/png"}),
        "native tile": call(app, get_tile, series_id, "1", "2", "1"),
        "iiif stored tile": iiif(app, get_tiles, f"{series_id}/256,0,256,256/256,256/0/default.jpg"),
        "iiif region": iiif(app, get_tiles, f"{series_id}/0,0,600,400/150,/0/default.png"),
        "associated": call(app, get_associated, series_id, "label"),
    }


def store_again_inverted(fake, series_id, ids, image, elsewhere=False):
    other = 255 - image
    fake.store_again(series_id, ids[0], tile_frames(other, 256, JPEG), elsewhere=elsewhere)
    fake.store_again(series_id, ids[1], tile_frames(other[::2, ::2], 128, EXPLICIT), elsewhere=elsewhere)
    fake.store_again(series_id, ids[2], tile_frames(other[:80, :120], 120, EXPLICIT), elsewhere=elsewhere)


@pytest.mark.parametrize("noticed_by", ["change callback", "series check"])
def test_series_stored_again_with_the_same_uids_answers_the_new_pixels_everywhere(world, noticed_by):
    fake, _, series_id, _, image, ids = world
    clock = Clock()
    app = fresh_app(fake, clock=clock)
    old = whole_slide_answers(app, series_id)
    # Through another Orthanc, this one's own frame routes keep the old pixels: only the stored file is new.
    store_again_inverted(fake, series_id, ids, image, elsewhere=noticed_by == "series check")
    if noticed_by == "change callback":  # stored through this Orthanc: one callback per instance
        for instance_id in ids:
            app.service.on_change(instance_id)
    else:  # through another Orthanc sharing the database: no callback here
        assert whole_slide_answers(app, series_id) == old  # trusted for SeriesCheckSeconds
        clock.now += 5.0
    after = whole_slide_answers(app, series_id)
    orthanc_now = fake.restarted() if noticed_by == "series check" else fake  # the new pixels, as served fresh
    truth = whole_slide_answers(fresh_app(orthanc_now), series_id)  # nothing cached
    for name, response in after.items():
        assert response.status == 200 and old[name].body != truth[name].body, name  # the test can fail
        assert response.body == truth[name].body, f"{name}: stale pixels"
    # A region never asked before, made from the decoded-tile cache: new pixels too.
    region = iiif(app, get_tiles, f"{series_id}/10,10,200,200/max/0/default.png")
    assert region.body == iiif(fresh_app(orthanc_now), get_tiles, f"{series_id}/10,10,200,200/max/0/default.png").body
    if noticed_by == "series check":  # each replaced instance's file read once, its frames never asked for
        assert all(fake.calls.count(f"/instances/{i}/attachments/dicom/data") == 1 for i in ids)
        assert not [c for c in fake.calls[fake.calls.index(f"/instances/{ids[0]}/attachments/dicom/data"):]
                    if "/frames/" in c]


def test_an_answer_rendered_while_the_series_changes_is_not_cached_as_current(world):
    """The answer is cached under the model it was built from, taken before rendering, not after."""
    fake, _, series_id, _, image, ids = world
    app = fresh_app(fake)
    raw_uri = f"/instances/{ids[0]}/frames/0/raw"
    old_frame = fake.paths[raw_uri]
    real_get_bytes = fake.get_bytes

    def racing_get_bytes(uri):
        if uri == raw_uri and fake.get_bytes is racing_get_bytes:
            fake.get_bytes = real_get_bytes
            store_again_inverted(fake, series_id, ids, image)
            app.service.on_change()
            call(app, get_pyramid, series_id)  # another request meanwhile: the series' new model
            return old_frame  # this read raced the change: old pixels
        return real_get_bytes(uri)

    fake.get_bytes = racing_get_bytes
    raced = call(app, get_tile, series_id, "0", "0", "0")
    assert raced.body == old_frame
    again = call(app, get_tile, series_id, "0", "0", "0")
    assert again.body == fake.paths[raw_uri] != old_frame


def test_deleted_series_answers_404_on_every_route(world):
    fake, _, series_id, _, _, ids = world
    app = fresh_app(fake)
    assert all(r.status == 200 for r in whole_slide_answers(app, series_id).values())
    for uri in [f"/series/{series_id}", f"/series/{series_id}/instances", *(f"/instances/{i}" for i in ids)]:
        del fake.paths[uri]
    for uri in [uri for uri in fake.paths if uri.startswith(tuple(f"/instances/{i}/" for i in ids))]:
        del fake.paths[uri]
    app.service.on_change()
    assert {name: r.status for name, r in whole_slide_answers(app, series_id).items()} == \
        dict.fromkeys(whole_slide_answers(fresh_app(fake), series_id), 404)


def ct_series(fake, pixels: list[np.ndarray]) -> tuple[str, list[str]]:
    tags = {"0028,0010": "64", "0028,0011": "64", "0028,0002": "1", "0028,0004": "MONOCHROME2",
            "0028,0100": "8", "0028,0101": "8", "0028,0103": "0"}
    series_id, ids = fake.add_series([(tags, EXPLICIT, [p.tobytes()]) for p in pixels], "1.2.840.10008.5.1.4.1.1.2")
    for instance_id in ids:  # the form the IIIF frames read (VOI LUT data asked for explicitly)
        fake.put_json(f"/instances/{instance_id}/tags?short&ignore-length=0028-3006", tags)
    return series_id, ids


@pytest.mark.parametrize("noticed_by", ["change callback", "series check"])
def test_iiif_frames_of_an_instance_stored_again_answer_the_new_pixels(noticed_by):
    fake = FakeOrthanc()
    ramp = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8) * 2
    series_id, ids = ct_series(fake, [ramp, ramp[::-1].copy()])
    clock = Clock()
    app = fresh_app(fake, clock=clock)
    tails = [f"{series_id}/1/full/max/0/default.png", f"{ids[1]}/0/full/max/0/default.png",
             f"{series_id}/1/0,0,32,32/16,/0/default.png"]
    old = [iiif(app, get_frames, tail) for tail in tails]
    fake.store_again(series_id, ids[1], [(255 - ramp).tobytes()])
    if noticed_by == "change callback":
        app.service.on_change()
    else:
        assert [iiif(app, get_frames, tail).body for tail in tails] == [r.body for r in old]
        clock.now += 5.0
    truth = [iiif(fresh_app(fake), get_frames, tail) for tail in tails]
    for tail, before, expected in zip(tails, old, truth, strict=True):
        assert before.body != expected.body
        assert iiif(app, get_frames, tail).body == expected.body, f"{tail}: stale pixels"
    new = decode(truth[0].body)[..., 0].astype(int)
    assert new[0, 0] > new[-1, -1]  # the inverted ramp (displayed with the frame's own min-max window)


# ---- pass-through decided per frame --------------------------------------------------------------------------

@pytest.mark.parametrize("first", ["clean frame", "odd frame"])
def test_pass_through_is_decided_per_frame_whatever_is_asked_first(first):
    fake = FakeOrthanc()
    image = source(512, 256)
    frames = tile_frames(image, 256, JPEG)
    # The second frame from another encoder: lossless JPEG (SOF3), which browsers cannot show.
    frames[1] = bytes(imagecodecs.jpeg8_encode(image[:, 256:], lossless=True))
    series_id, _ = fake.add_series([(wsi_tags(512, 256, 256), JPEG, frames)], WSI_SOP_CLASS)
    app = fresh_app(fake)
    asks = {0: lambda: call(app, get_tile, series_id, "0", "0", "0"),
            1: lambda: call(app, get_tile, series_id, "0", "1", "0"),
            2: lambda: iiif(app, get_tiles, f"{series_id}/0,0,256,256/256,256/0/default.jpg"),
            3: lambda: iiif(app, get_tiles, f"{series_id}/256,0,256,256/256,256/0/default.jpg")}
    order = [0, 2, 1, 3] if first == "clean frame" else [1, 3, 0, 2]
    answers = {n: asks[n]() for n in order}
    assert answers[0].body == frames[0] and answers[2].body == frames[0]  # as stored
    for n in (1, 3):  # re-encoded as baseline JPEG from its pixels
        assert answers[n].status == 200 and jpeg_header(answers[n].body).sof == 0xC0
        assert decode(answers[n].body).shape == (256, 256, 3)
    png = call(app, get_tile, series_id, "0", "1", "0", headers={"accept": "image/png"})
    assert np.array_equal(decode(png.body), image[:, 256:])  # the odd frame's pixels, decoded losslessly


def test_frames_sharing_a_header_share_its_verdict_and_one_byte_apart_is_read_again():
    """The header walk is skipped for a frame starting with the bytes that decided for an earlier one: only those."""
    fake = FakeOrthanc()
    image = source(768, 256)
    frames = tile_frames(image, 256, JPEG)
    header_end = frames[0].index(b"\xff\xda") + 4
    assert frames[1][:header_end] == frames[0][:header_end]  # one encoder: byte-identical headers
    sof = frames[2].index(b"\xff\xc0")
    lying = bytearray(frames[2])
    lying[sof + 5:sof + 7] = (255).to_bytes(2, "big")  # the SOF says 255 rows: the tags say 256
    frames[2] = bytes(lying)
    series_id, _ = fake.add_series([(wsi_tags(768, 256, 256), JPEG, frames)], WSI_SOP_CLASS)
    app = fresh_app(fake)
    assert [call(app, get_tile, series_id, "0", str(x), "0").body == frames[x] for x in range(3)] == \
        [True, True, False]


def test_an_instance_id_where_a_series_is_expected_is_not_found(world):
    """Orthanc 1.10 answers GET /series/{instance id}/instances with 400 "Bad type", not 404."""
    fake, app, series_id, _, _, ids = world
    real_get_bytes = fake.get_bytes

    def orthanc_get_bytes(uri):
        if uri.startswith("/series/") and uri.endswith("/instances") and uri.split("/")[2] in ids:
            raise UpstreamError(f"{uri}: (5, 'Bad type for a parameter')")
        return real_get_bytes(uri)

    fake.get_bytes = orthanc_get_bytes
    assert call(app, get_tile, ids[0], "0", "0", "0").status == 404
    assert call(app, get_pyramid, ids[0]).status == 404
    assert call(app, get_tile, series_id, "0", "0", "0").status == 200


def test_series_models_and_instance_versions_kept_are_bounded(monkeypatch):
    monkeypatch.setattr("wsi.series_repository._MAX_SERIES", 2)
    monkeypatch.setattr("wsi.series_repository._MAX_VERSIONS", 3)
    fake = FakeOrthanc()
    series = [fake.add_series([(wsi_tags(256, 256, 256), JPEG, tile_frames(source(256, 256), 256, JPEG))] * 2,
                              WSI_SOP_CLASS)[0] for _ in range(4)]
    app = fresh_app(fake)
    for series_id in series:
        assert call(app, get_tile, series_id, "0", "0", "0").status == 200
    assert len(app.service.series._series) == 2 and len(app.service.series._versions) == 3
    assert call(app, get_tile, series[0], "0", "0", "0").status == 200  # forgotten: read again


# ---- single-flight: N concurrent cold requests, one computation ----------------------------------------------

def together(n, work):
    barrier, results = threading.Barrier(n), [None] * n

    def one(i):
        barrier.wait()
        results[i] = work()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def slow_orthanc(fake, seconds=0.1):
    """Every Orthanc read takes a while, as a cold frame does: the 16 requests all arrive during it."""
    real = fake.get_bytes

    def get_bytes(uri):
        time.sleep(seconds)
        return real(uri)

    fake.get_bytes = get_bytes


@pytest.mark.parametrize(("route", "groups", "headers"), [
    ("native tile", ("1", "2", "1"), {}),
    ("pass-through tile", ("0", "1", "0"), {}),
    ("decoded jpeg tile as png", ("0", "1", "1"), {"accept": "image/png"}),
])
def test_concurrent_cold_tile_requests_read_and_decode_once(world, route, groups, headers, caplog):
    fake, _, series_id, _, _, _ = world
    app = fresh_app(fake)
    call(app, get_pyramid, series_id)  # the model is read; the frame is cold
    slow_orthanc(fake)
    before = len(fake.calls)
    with caplog.at_level(logging.DEBUG, logger="wsi"):
        answers = together(16, lambda: call(app, get_tile, series_id, *groups, headers=headers))
    assert all(a.status == 200 and a.body == answers[0].body for a in answers)
    frame_reads = [c for c in fake.calls[before:] if "/frames/" in c]
    assert len(frame_reads) == 1, frame_reads
    decodes = [r for r in caplog.records if r.getMessage().startswith("decoded frame")]
    assert len(decodes) == (0 if route == "pass-through tile" else 1)


def test_concurrent_cold_series_and_iiif_render_are_computed_once(world):
    fake, _, series_id, _, _, _ = world
    app = fresh_app(fake)
    slow_orthanc(fake, 0.02)
    renders = []
    real_admit = app.renders.admit

    def counting_admit(*args):
        renders.append(args)
        return real_admit(*args)

    app.renders.admit = counting_admit
    tail = f"{series_id}/0,0,600,400/150,/0/default.png"
    answers = together(16, lambda: iiif(app, get_tiles, tail))
    assert all(a.status == 200 and a.body == answers[0].body for a in answers)
    assert len(renders) == 1
    assert sum(c == f"/series/{series_id}/instances" for c in fake.calls) == 1  # one model read for all


def test_a_failed_cold_request_fails_every_waiter_and_is_not_kept(world):
    fake, _, series_id, _, _, ids = world
    app = fresh_app(fake)
    call(app, get_pyramid, series_id)
    raw_uri = f"/instances/{ids[1]}/frames/5/raw"
    good = fake.paths.pop(raw_uri)
    slow_orthanc(fake)
    answers = together(8, lambda: call(app, get_tile, series_id, "1", "2", "1"))
    assert [a.status for a in answers] == [404] * 8
    assert sum(c == raw_uri for c in fake.calls) == 1
    fake.paths[raw_uri] = good
    assert call(app, get_tile, series_id, "1", "2", "1").status == 200
