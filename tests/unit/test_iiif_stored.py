"""When an IIIF image request is exactly one stored tile, the stored JPEG can be sent as it is."""

import pytest
from wsi.iiif_render import Limits, aligned_tile, plan_render
from wsi.iiif_request import parse_image_request
from wsi.pyramid import Level, Pyramid

PYRAMID = Pyramid((Level(1000, 700, 256, 256), Level(500, 350, 256, 256), Level(250, 175, 128, 128)))
LIMITS = Limits(10000, 10000, 100_000_000)


def plan(path: str):
    return plan_render(parse_image_request(*path.split("/")), PYRAMID, LIMITS)


@pytest.mark.parametrize(("path", "expected"), [
    ("256,0,256,256/256,256/0/default.jpg", (1, 0)),
    ("0,256,256,256/256,/0/default.jpg", (0, 1)),
    ("0,0,512,512/256,256/0/default.jpg", (0, 0)),  # level 1: scale factor 2
    ("512,0,512,512/244,256/0/default.jpg", None),  # level 1 right edge (clipped at 1000 px)
    ("256,0,256,256/256,256/0/color.jpg", (1, 0)),
    ("256,0,256,256/256,256/0/default.png", None),  # another format
    ("256,0,256,256/256,256/90/default.jpg", None),  # rotated
    ("256,0,256,256/256,256/!0/default.jpg", None),  # mirrored
    ("256,0,256,256/256,256/0/gray.jpg", None),  # another quality
    ("256,0,256,256/128,128/0/default.jpg", None),  # scaled: another level, not its whole tile
    ("100,0,256,256/256,256/0/default.jpg", None),  # not aligned
    ("768,0,232,256/232,256/0/default.jpg", None),  # right edge: stored tile is padded, must be cropped
    ("0,0,256,200/256,200/0/default.jpg", None),  # part of a tile
    ("full/max/0/default.jpg", None),
])
def test_aligned_tile(path, expected):
    assert aligned_tile(plan(path), PYRAMID) == expected
