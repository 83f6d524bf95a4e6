"""The frame map (plugin/wsi/frame_map.py), the series version and the cache-header choices, as pure logic; the
real-Orthanc proofs are in tests/integration/test_direct_frames.py."""

from __future__ import annotations

from wsi.config import load_settings, orthanc_authenticates
from wsi.frame_map import frame_map
from wsi.frames import FrameIndex, FullBlock
from wsi.http import immutable_cache_control
from wsi.pyramid import Level
from wsi.series import LevelModel, OpticalPath, SeriesModel


def _model() -> SeriesModel:
    full = FrameIndex([FullBlock("a", 0, 8, 3, 2, ("1",), (0, 1)), FullBlock("b", 8, 4, 3, 2, ("1",), (0, 1))])
    sparse = FrameIndex()
    sparse.add_sparse((0, 0, "2", 0), ("s", 5))
    sparse.add_sparse((1, 0, "1", 0), ("t", 0))
    return SeriesModel("series", [LevelModel(Level(700, 500, 256, 256), full),
                                  LevelModel(Level(350, 250, 256, 256), sparse)],
                       [OpticalPath("1"), OpticalPath("2")], [0.0, 1.0], revision=(("a", "x"), ("b", "y")))


def test_full_instances_are_arithmetic_and_sparse_ones_a_table_with_path_indices() -> None:
    asked: list[str] = []
    levels = frame_map(_model(), lambda instance: asked.append(instance) or instance != "t")
    shape = {"TilesX": 3, "TilesY": 2, "OpticalPaths": [0], "FocalPlanes": [0, 1]}
    assert levels[0] == {"Full": [{"Instance": "a", "Offset": 0, "Count": 8, **shape},
                                  {"Instance": "b", "Offset": 8, "Count": 4, **shape}]}
    # Instance "t" is refused (e.g. its frames need decoding): its tile is left to /wsi/tiles.
    assert levels[1] == {"Full": [], "Sparse": {"Instances": ["s"], "Tiles": [[0, 0, 1, 0, 0, 5]]}}
    assert sorted(asked) == ["a", "b", "s", "t"]  # each instance judged once


def test_nothing_is_mapped_when_no_instance_goes_out_as_stored() -> None:
    assert frame_map(_model(), lambda instance: False) == [{"Full": []}, {"Full": []}]


def test_the_version_changes_with_any_instance_or_stored_file() -> None:
    model = _model()
    other = _model()
    other.revision = (("a", "x"), ("b", "z"))
    assert len(model.version) == 16 and model.version == _model().version != other.version


def test_private_caching_when_orthanc_asks_for_credentials() -> None:
    assert not orthanc_authenticates({})  # Orthanc's defaults: no remote access, so no authentication
    assert orthanc_authenticates({"RemoteAccessAllowed": True})  # AuthenticationEnabled defaults to it (1.5.8+)
    assert not orthanc_authenticates({"RemoteAccessAllowed": True, "AuthenticationEnabled": False})
    assert orthanc_authenticates({"AuthenticationEnabled": True})
    assert orthanc_authenticates({"Authorization": {"WebServiceRootUrl": "http://auth/"}})  # authorization plugin
    assert load_settings({"AuthenticationEnabled": True}).authenticated
    assert immutable_cache_control(True) == "private, max-age=31536000, immutable"
    assert immutable_cache_control(False) == "public, max-age=31536000, immutable"
