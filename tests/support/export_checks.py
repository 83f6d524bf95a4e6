"""What an exported TIFF must show a reader (tests of GET /wsi/export and python -m wsi.export).

Every check compares a reader's view of the file with what our own routes say of the series: /wsi/pyramids
for the geometry and spacing, /wsi/tiles for the pixels (decoded with Pillow), /wsi/associated for the
label, macro and thumbnail.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import openslide
from PIL import Image

from tests.support.orthanc_server import OrthancServer
from tests.support.source import psnr

# Tiles the export re-encodes (JPEG q90, YCbCr 4:4:4) from a lossless or decoded source: a misplaced or
# miscoloured tile scores under 15 dB.
REENCODED_MIN_PSNR = 32.0
ASSOCIATED_NAMES = {"label": "label", "overview": "macro", "thumbnail": "thumbnail"}


@dataclass
class ExportReport:
    tiles_compared: int = 0
    exact: int = 0
    worst_psnr: float = float("inf")
    levels_compared: list[int] = field(default_factory=list)


def decoded(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def exact_levels(sizes: list[list[int]]) -> list[int]:
    """Levels whose downsample is a whole number on both axes: OpenSlide's read_region there maps level pixels
    to level pixels (at a fractional downsample it would resample)."""
    base_w, base_h = sizes[0]
    found = []
    for index, (w, h) in enumerate(sizes):
        factor = base_w // w
        if base_w == w * factor and base_h == h * factor:
            found.append(index)
    return found


def check_geometry(slide: openslide.OpenSlide, pyramid: dict) -> None:
    sizes = [tuple(size) for size in pyramid["Sizes"]]
    assert slide.level_count == len(sizes)
    assert slide.level_dimensions == tuple(sizes)
    for index, downsample in enumerate(slide.level_downsamples):
        # OpenSlide averages the width and height ratios; ours is the width ratio.
        expected = (sizes[0][0] / sizes[index][0] + sizes[0][1] / sizes[index][1]) / 2
        assert abs(downsample - expected) < 1e-6 * expected, (index, downsample, expected)
    spacing = pyramid["PixelSpacings"][0]
    if spacing:  # Aperio's one MPP is the column spacing (x); OpenSlide gives it for both axes
        mpp = spacing[0] * 1000
        for name in (openslide.PROPERTY_NAME_MPP_X, openslide.PROPERTY_NAME_MPP_Y):
            assert abs(float(slide.properties[name]) - mpp) < 1e-4 * mpp, (name, slide.properties[name], mpp)
    if pyramid.get("ObjectivePower"):
        assert float(slide.properties[openslide.PROPERTY_NAME_OBJECTIVE_POWER]) == float(pyramid["ObjectivePower"])
    else:
        assert openslide.PROPERTY_NAME_OBJECTIVE_POWER not in slide.properties


def check_pixels(server: OrthancServer, series_id: str, slide: openslide.OpenSlide, pyramid: dict, *,
                 exact: bool, query: str = "") -> ExportReport:
    """read_region of every tile of every whole-numbered level against /wsi/tiles: equal when `exact`
    (tiles copied as stored), else within REENCODED_MIN_PSNR."""
    report = ExportReport()
    sizes, tile_sizes = pyramid["Sizes"], pyramid["TilesSizes"]
    for level in exact_levels(sizes):
        report.levels_compared.append(level)
        (width, height), (tw, th) = sizes[level], tile_sizes[level]
        factor = sizes[0][0] // width
        for ty in range(-(-height // th)):
            for tx in range(-(-width // tw)):
                status, _, body = server.get(f"/wsi/tiles/{series_id}/{level}/{tx}/{ty}{query}")
                assert status == 200, body[:200]
                w, h = min(tw, width - tx * tw), min(th, height - ty * th)  # edge tiles: the image's part only
                ours = decoded(body)[:h, :w]
                region = slide.read_region((tx * tw * factor, ty * th * factor), level, (w, h))
                theirs = np.asarray(region.convert("RGB"))
                report.tiles_compared += 1
                if np.array_equal(ours, theirs):
                    report.exact += 1
                    continue
                worst = np.abs(ours.astype(int) - theirs).max()
                assert not exact, f"level {level} tile ({tx}, {ty}) differs by up to {worst}"
                score = psnr(ours, theirs)
                report.worst_psnr = min(report.worst_psnr, score)
                assert score >= REENCODED_MIN_PSNR, f"level {level} tile ({tx}, {ty}): {score:.1f} dB"
    return report


def check_associated(server: OrthancServer, series_id: str, slide: openslide.OpenSlide, pyramid: dict) -> None:
    """Label and macro as the series has them (stored lossless: equal pixels); a thumbnail always."""
    names = set(slide.associated_images)
    assert "thumbnail" in names
    assert names == {"thumbnail"} | {ASSOCIATED_NAMES[kind] for kind in pyramid["AssociatedImages"]}
    for kind in pyramid["AssociatedImages"]:
        status, _, body = server.get(f"/wsi/associated/{series_id}/{kind}")
        assert status == 200
        theirs = np.asarray(slide.associated_images[ASSOCIATED_NAMES[kind]].convert("RGB"))
        assert np.array_equal(decoded(body), theirs), kind


def export_file(server: OrthancServer, series_id: str, folder: Path, query: str = "") -> tuple[Path, dict]:
    status, headers, body = server.get(f"/wsi/export/{series_id}{query}")
    assert status == 200, body[:300]
    assert headers["content-type"] == "image/tiff"
    path = folder / f"{series_id}.svs"
    path.write_bytes(body)
    return path, headers


def tile_counts(headers: dict) -> dict[str, int]:
    """X-Export-Tiles: "copied=N, encoded=M"."""
    pairs = (part.strip().split("=") for part in headers["x-export-tiles"].split(","))
    return {key: int(value) for key, value in pairs}
