"""IIIF in a real Orthanc (test_iiif_orthanc.py: the official validator, manifests, a reverse proxy) again, on
the other platform's Orthanc in the root of tests/support/other_platform.py (Debian 13's from a Debian 12 host,
Debian 12's from a Debian 13 host).

On Debian 13, 9 of the validator's 33 level-2 tests failed while error answers became 500s (orthanc-python 5.0's
`SendHttpStatus`). The test bodies and module fixture are imported, not copied: pytest collects them here, and
the servers they start run in the root (`on_other_platform`); the validator and nginx run on the host. Then the
`info.json` fields ours shares with the C++ plugin 3.2's (its IIIF is new in 3.x) are compared on every standard
slide (Debian 12's C++ plugin 1.1 has no IIIF: that test is skipped there).
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.support.orthanc_server import OrthancServer

# pytest runs the tests in this order (their file's).
# isort: off
from tests.integration.test_iiif_orthanc import (  # noqa: F401  (fixtures and tests collected here)
    served,
    test_validator_level_2_on_a_lossless_slide_of_the_validation_image,
    test_validator_level_2_on_a_frame_of_the_validation_image,
    test_validator_image_independent_tests_on_real_slides,
    test_validator_image_independent_tests_on_a_tiled_radiograph,
    test_manifests_validate,
    test_radiology_manifest_sizes_each_canvas_by_its_own_frame,
    test_frames_by_instance_match_frames_by_series,
    test_large_radiograph_is_tiled,
    test_every_id_uses_the_public_url_through_a_real_proxy,
)
# isort: on

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("on_other_platform")]

# What a level-0 IIIF service of the C++ plugin 3.2 and our level-2 one both say. Not shared: "profile" (level0
# against level2), the level-2 limits and extras (maxWidth..., extraFormats...), and the "type" of each entry of
# "sizes" and "tiles", which only ours writes (IIIF 3.0 makes it optional).
SHARED_INFO = ("@context", "type", "protocol", "width", "height")


def _info(server: OrthancServer, series: str) -> dict:
    status, _, body = server.get(f"/wsi/iiif/tiles/{series}/info.json")
    assert status == 200, (series, status, body[:200])
    return json.loads(body)


def _pyramid(server: OrthancServer, series: str) -> dict:
    return server.get_json(f"/wsi/pyramids/{series}")


def _without_type(entries: list[dict]) -> list[dict]:
    return [{key: value for key, value in entry.items() if key != "type"} for entry in entries]


def test_info_json_agrees_with_the_cpp_plugin_3_2(orthanc_other, orthanc_other_cpp, slides_other,
                                                  slides_other_cpp):
    """Every standard slide: the shared fields, the sizes of the levels and the tiles with their scale factors are
    the C++ plugin 3.2's, and both ids name the same service path (the hosts are the two servers')."""
    if not orthanc_other_cpp.get_json("/plugins/wsi")["Version"].startswith("3."):
        pytest.skip("the C++ plugin 1.1 (Debian 12) has no IIIF to compare info.json with")
    for name, series in slides_other.items():
        assert slides_other_cpp[name] == series
        mine, theirs = _info(orthanc_other, series), _info(orthanc_other_cpp, series)
        assert theirs["profile"] == "level0" and mine["profile"] == "level2", name
        assert {key: mine[key] for key in SHARED_INFO} == {key: theirs[key] for key in SHARED_INFO}, name
        assert _without_type(mine["tiles"]) == _without_type(theirs["tiles"]), name
        # 3.2 (level 0) lists only the sizes of its tile scale factors; ours (level 2, any size served) lists every
        # stored level, e.g. also the 367 x 234 and 158 x 100 levels of "ours-npot" (factors 1, 3, 7).
        factors = mine["tiles"][0]["scaleFactors"]
        of_factors = [size for size in _without_type(mine["sizes"])
                      if any(size == {"width": -(-mine["width"] // f), "height": -(-mine["height"] // f)}
                             for f in factors)]
        assert of_factors == _without_type(theirs["sizes"]), name
        assert len(mine["sizes"]) == len(_pyramid(orthanc_other, series)["Sizes"]), name
        path = f"/wsi/iiif/tiles/{series}"
        assert urllib.parse.urlsplit(mine["id"]).path == urllib.parse.urlsplit(theirs["id"]).path == path, name
