"""Issue 12 items 1 and 2 on a real Orthanc: the frame map published with the pyramid (tiles a browser fetches from
Orthanc's own raw-frame route, byte for byte what /wsi/tiles sends), and the cache headers of tile answers
(versioned URLs immutable, a stale version 404, unversioned URLs an ETag and 304)."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.support.orthanc_server import OrthancServer
from tests.support.source import textured_image
from tests.support.writer import recode_as_lossless_jpeg, write_slide

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "plugin" / "wsi_plugin.py"
IMMUTABLE = "max-age=31536000, immutable"  # after "public, " or "private, "


def direct_frame(pyramid: dict, level: int, tx: int, ty: int, path: int = 0, plane: int = 0) -> tuple[str, int] | None:
    """The frame map read as the viewer reads it (webassets/direct-frames.js): (instance, frame) or None."""
    entry = pyramid["FrameMap"][level]
    sparse = entry.get("Sparse")
    if sparse:
        for row in sparse["Tiles"]:
            if row[:4] == [tx, ty, path, plane]:
                return sparse["Instances"][row[4]], row[5]
    for block in entry["Full"]:
        if path not in block["OpticalPaths"] or plane not in block["FocalPlanes"]:
            continue
        index = ((block["OpticalPaths"].index(path) * len(block["FocalPlanes"]) + block["FocalPlanes"].index(plane))
                 * block["TilesY"] + ty) * block["TilesX"] + tx
        if block["Offset"] <= index < block["Offset"] + block["Count"]:
            return block["Instance"], index - block["Offset"]
    return None


def every_tile(pyramid: dict):
    for level, (tiles_x, tiles_y) in enumerate(pyramid["TilesCount"]):
        for ty in range(tiles_y):
            for tx in range(tiles_x):
                yield level, tx, ty


@pytest.mark.parametrize("name", ["ours-jpeg", "ours-sparse", "dicomizer-jpeg"])
def test_every_mapped_frame_from_orthanc_is_the_tile_we_send(orthanc: OrthancServer, slides: dict[str, str],
                                                              name: str) -> None:
    if name not in slides:
        pytest.skip(f"{name} needs its producer (Debian package orthanc-wsi)")
    series = slides[name]
    pyramid = orthanc.get_json(f"/wsi/pyramids/{series}")
    mapped = 0
    for level, tx, ty in every_tile(pyramid):
        found = direct_frame(pyramid, level, tx, ty)
        status, headers, tile = orthanc.get(f"/wsi/tiles/{series}/{level}/{tx}/{ty}")
        if found is None:
            # Only a hole of a sparse level is left out of a JPEG slide without a colour profile.
            assert name == "ours-sparse" and status == 200, (level, tx, ty)
            continue
        status, headers, raw = orthanc.get(f"/instances/{found[0]}/frames/{found[1]}/raw?version={pyramid['Version']}")
        # Measured: Orthanc 1.10.1 and 1.12.7 answer image/jpeg, no caching header, and ignore the query (the
        # viewer's force-cache fetch and the version in the URL are what make a browser keep them).
        assert status == 200 and headers["content-type"] == "image/jpeg"
        assert not {"cache-control", "etag", "last-modified", "expires"} & set(headers)
        assert raw == tile, (level, tx, ty)
        mapped += 1
    assert mapped >= sum(x * y for x, y in pyramid["TilesCount"]) - (1 if name == "ours-sparse" else 0)
    if name == "ours-sparse":
        assert any("Sparse" in entry for entry in pyramid["FrameMap"])


def test_frames_that_are_not_browser_jpeg_are_not_mapped(orthanc: OrthancServer, slides: dict[str, str]) -> None:
    for name in ("ours-explicit", "dicomizer-jpeg2000"):
        if name in slides:
            pyramid = orthanc.get_json(f"/wsi/pyramids/{slides[name]}")
            assert pyramid["FrameMap"] == [{"Full": []}] * len(pyramid["Sizes"]), name


def test_frames_with_a_colour_profile_to_embed_are_not_mapped(orthanc: OrthancServer, tmp_path: Path) -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    other = srgb.replace("sRGB".encode("utf-16-be"), "xRGB".encode("utf-16-be")).replace(b"sRGB", b"xRGB")
    series = orthanc.upload_series(write_slide(tmp_path, textured_image(512, 384, seed=5), icc=other))
    pyramid = orthanc.get_json(f"/wsi/pyramids/{series}")
    status, _, tile = orthanc.get(f"/wsi/tiles/{series}/0/0/0")
    assert status == 200 and b"ICC_PROFILE" in tile  # /wsi/tiles embeds it: the raw frame is not the same
    assert all(not level["Full"] and "Sparse" not in level for level in pyramid["FrameMap"])


def test_a_first_frame_a_browser_cannot_decode_leaves_the_map_once_warmed(orthanc: OrthancServer,
                                                                         tmp_path: Path) -> None:
    """The map is decided from the tags (the pyramid request reads no frame); the FrameWarmer, reading each
    instance's frame 0 anyway, walks its header, and an instance whose frames are not what the label says
    (lossless JPEG under the baseline label) leaves the maps sent after it, with a warning in the log. Its tiles
    come through /wsi/tiles all along (tests/browser/test_tile_caching.py shows the viewer falling back there)."""
    files = write_slide(tmp_path, textured_image(1024, 768, seed=31))
    recode_as_lossless_jpeg(files[1])
    series = orthanc.upload_series(files)
    bad = orthanc.get_json(f"/series/{series}/instances")
    bad = next(i["ID"] for i in bad if i["MainDicomTags"].get("InstanceNumber") == "2")
    first = orthanc.get_json(f"/wsi/pyramids/{series}")
    assert direct_frame(first, 1, 0, 0) == (bad, 0)  # listed from the tags: nothing read yet
    status, _, raw = orthanc.get(f"/instances/{bad}/frames/0/raw")
    assert status == 200 and b"\xff\xc3" in raw[:1000]  # lossless SOF: browsers refuse it
    status, _, tile = orthanc.get(f"/wsi/tiles/{series}/1/0/0")
    assert status == 200 and Image.open(io.BytesIO(tile)).size == (256, 256)
    deadline = time.monotonic() + 20
    while direct_frame(orthanc.get_json(f"/wsi/pyramids/{series}"), 1, 0, 0) is not None:
        assert time.monotonic() < deadline, "the warmed first frame did not take the instance out of the map"
        time.sleep(0.2)
    later = orthanc.get_json(f"/wsi/pyramids/{series}")
    assert later["FrameMap"][1] == {"Full": []} and later["FrameMap"][0] == first["FrameMap"][0]
    assert later["FrameMap"][2] == first["FrameMap"][2] and later["Version"] == first["Version"]
    warnings = [line for line in orthanc.log_path.read_text(errors="replace").splitlines()
                if bad in line and "through /wsi/tiles only" in line]
    assert len(warnings) == 1 and "SOF 0xC3" in warnings[0], warnings


def test_versioned_tiles_are_immutable_and_a_stale_version_is_404(orthanc: OrthancServer, tmp_path: Path) -> None:
    uids = {"study_uid": "1.2.826.0.1.3680043.8.498.12001", "series_uid": "1.2.826.0.1.3680043.8.498.12002"}
    first = orthanc.upload(write_slide(tmp_path / "a", textured_image(512, 384, seed=11), **uids))
    series = orthanc.get_json(f"/instances/{first[0]}")["ParentSeries"]
    old = orthanc.get_json(f"/wsi/pyramids/{series}")
    url = f"/wsi/tiles/{series}/0/0/0?version={old['Version']}"
    for _ in range(2):  # built, then from the answer cache (the fast path)
        status, headers, old_tile = orthanc.get(url)
        assert status == 200 and headers["cache-control"] == f"public, {IMMUTABLE}" and "etag" not in headers
    # The manifest names the versioned IIIF image, whose answers are immutable too; the plain one still answers.
    manifest = orthanc.get_json(f"/wsi/iiif/series/{series}/manifest.json")
    service = manifest["items"][0]["items"][0]["items"][0]["body"]["service"][0]["id"]
    iiif = f"/wsi/iiif/tiles/{series}@{old['Version']}"
    assert service.endswith(iiif)
    info = orthanc.get_json(f"{iiif}/info.json")
    assert info["id"].endswith(iiif)
    for path in (f"{iiif}/info.json", f"{iiif}/0,0,256,256/256,/0/default.jpg"):
        status, headers, _ = orthanc.get(path)
        assert status == 200 and headers["cache-control"] == f"public, {IMMUTABLE}", path
    status, headers, _ = orthanc.get(f"/wsi/iiif/tiles/{series}/0,0,256,256/256,/0/default.jpg")
    assert status == 200 and headers["cache-control"].startswith("private, max-age=") and headers["etag"]

    # The series changes: same study and series UIDs, other instances with other pixels.
    for instance in first:
        assert orthanc.request("DELETE", f"/instances/{instance}")[0] == 200
    orthanc.upload(write_slide(tmp_path / "b", textured_image(512, 384, seed=12), **uids))
    new = orthanc.get_json(f"/wsi/pyramids/{series}")
    assert new["Version"] != old["Version"]
    for stale in (url, f"{iiif}/0,0,256,256/256,/0/default.jpg", f"{iiif}/info.json"):
        status, headers, body = orthanc.get(stale)
        assert status == 404 and b"has changed" in body and "cache-control" not in headers, stale
    new_service = orthanc.get_json(f"/wsi/iiif/series/{series}/manifest.json")["items"][0]["items"][0]["items"][0]
    assert new_service["body"]["service"][0]["id"].endswith(f"/wsi/iiif/tiles/{series}@{new['Version']}")
    status, headers, new_tile = orthanc.get(f"/wsi/tiles/{series}/0/0/0?version={new['Version']}")
    assert status == 200 and new_tile != old_tile and headers["cache-control"] == f"public, {IMMUTABLE}"
    orthanc.request("DELETE", f"/series/{series}")


def test_unversioned_tiles_have_an_etag_and_answer_304(orthanc: OrthancServer, slides: dict[str, str]) -> None:
    url = f"/wsi/tiles/{slides['ours-jpeg']}/1/0/0"
    status, headers, body = orthanc.get(url)
    assert status == 200 and "cache-control" not in headers and headers["vary"] == "Accept"
    etag = headers["etag"]
    for _ in range(2):  # the second answer comes from the cache's fast path
        status, headers, body = orthanc.get(url, {"If-None-Match": etag})
        assert status == 304 and headers["etag"] == etag and body == b"" and headers["vary"] == "Accept"
    status, headers, body = orthanc.get(url, {"If-None-Match": '"other"'})
    assert status == 200 and headers["etag"] == etag and body
    status, headers, _ = orthanc.get(url, {"Accept": "image/png", "If-None-Match": etag})
    assert status == 200 and headers["content-type"] == "image/png" and headers["etag"] != etag


def test_tiles_are_private_when_orthanc_asks_for_credentials(tmp_path: Path) -> None:
    config = {"AuthenticationEnabled": True, "RegisteredUsers": {"alice": "secret"}}
    auth = {"Authorization": "Basic " + base64.b64encode(b"alice:secret").decode()}
    with OrthancServer(SCRIPT, storage_dir=tmp_path / "orthanc", extra_config=config) as server:
        ids = []
        for path in write_slide(tmp_path / "slide", textured_image(512, 384, seed=3)):
            ids.append(server.request("POST", "/instances", path.read_bytes(), auth)[2])
        series = server.request("GET", "/series", headers=auth)[2].decode().split('"')[1]
        status, _, body = server.request("GET", f"/wsi/pyramids/{series}", headers=auth)
        assert status == 200
        version = json.loads(body)["Version"]
        status, headers, _ = server.request("GET", f"/wsi/tiles/{series}/0/0/0?version={version}", headers=auth)
        assert status == 200 and headers["cache-control"] == f"private, {IMMUTABLE}"
        assert server.get(f"/wsi/tiles/{series}/0/0/0?version={version}")[0] == 401
