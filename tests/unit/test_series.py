"""Series model from Orthanc `?short` tag JSON, written here the way Orthanc returns it."""

from fake_orthanc import wsi_tags
from wsi.frames import FrameIndex, FullBlock
from wsi.series import InstanceRecord, build_series_model, image_flavor, pixel_spacing_mm

JPEG = "1.2.840.10008.1.2.4.50"


def record(instance_id, tags):
    return InstanceRecord(instance_id, tags, JPEG)


def test_image_flavor_and_missing_image_type():
    assert image_flavor({"0008,0008": "DERIVED\\PRIMARY\\THUMBNAIL\\RESAMPLED"}) == "THUMBNAIL"
    assert image_flavor({}) == "VOLUME"  # OrthancWSIDicomizer 1.1 writes no Image Type


def test_pixel_spacing_is_x_then_y():
    tags = wsi_tags(1000, 1000, spacing=(0.0005, 0.00025))
    assert pixel_spacing_mm(tags) == (0.0005, 0.00025)


def test_pixel_spacing_mixed_up_by_orthanc_wsi_dicomizer_is_corrected():
    tags = wsi_tags(5000, 3500, spacing=(0.00025, 0.00025))  # imaged volume 1.25 x 0.875 mm
    tags["5200,9229"][0]["0028,9110"][0]["0028,0030"] = f"{1.25 / 3500}\\{0.875 / 5000}"  # (row, column)
    assert pixel_spacing_mm(tags) == (0.00025, 0.00025)
    tags["5200,9229"][0]["0028,9110"][0]["0028,0030"] = "0.0004\\0.0003"  # just different: trusted
    assert pixel_spacing_mm(tags) == (0.0003, 0.0004)


def test_levels_associated_and_defaults():
    records = [
        record("i-level2", wsi_tags(500, 375)),
        record("i-level0", wsi_tags(2000, 1500)),
        record("i-level1", wsi_tags(1000, 750)),
        record("i-label", wsi_tags(300, 200, tile=300, frames=1, flavor="LABEL")),
        record("i-other", wsi_tags(100, 100, flavor="LOCALIZER")),
    ]
    model = build_series_model("s", records)
    assert [lm.level.width for lm in model.levels] == [2000, 1000, 500]
    assert sorted(model.associated) == ["label"]
    assert model.pyramid.downsample(2) == 4.0
    assert model.default_optical_path == "1" and model.focal_planes_um == [0.0]
    assert model.imaged_volume_mm == (1.0, 0.75)
    assert model.levels[0].frames.lookup((7, 5, "1", 0)) == ("i-level0", 7 + 5 * 8)
    assert model.levels[0].frames.lookup((7, 5, "2", 0)) is None  # no such optical path


def test_non_wsi_or_no_volume_gives_none():
    assert build_series_model("s", [record("a", wsi_tags(100, 100, flavor="LABEL"))]) is None


def test_tiled_full_order_with_planes_and_paths():
    tags = wsi_tags(512, 256, paths=("a", "b"), planes=3)
    model = build_series_model("s", [record("i", tags)])
    assert [p.identifier for p in model.optical_paths] == ["a", "b"]
    assert len(model.focal_planes_um) == 3 and model.default_focal_plane == 1
    # columns fastest, then rows, then focal planes, then optical paths
    assert model.levels[0].frames.lookup((1, 0, "a", 0)) == ("i", 1)
    assert model.levels[0].frames.lookup((0, 0, "a", 2)) == ("i", 4)
    assert model.levels[0].frames.lookup((1, 0, "b", 1)) == ("i", 2 * 3 + 2 + 1)


def test_concatenation_splits_frames_across_instances():
    total = 4 * 3
    first = wsi_tags(1024, 768, frames=7, offset=0)
    second = wsi_tags(1024, 768, frames=total - 7, offset=7)
    model = build_series_model("s", [record("second", second), record("first", first)])
    index = model.levels[0].frames
    assert index.lookup((2, 1, "1", 0)) == ("first", 6)
    assert index.lookup((3, 1, "1", 0)) == ("second", 0)
    assert index.lookup((3, 2, "1", 0)) == ("second", 4)
    assert len(index) == total


def test_sparse_with_holes_planes_and_paths():
    positions = [(1, 1, 0.0, "1"), (257, 1, 0.0, "1"), (1, 257, 2.0, "1"), (257, 257, 0.0, "2")]
    model = build_series_model("s", [record("i", wsi_tags(512, 512, organization="TILED_SPARSE",
                                                          positions=positions, paths=("1", "2")))])
    index = model.levels[0].frames
    assert model.focal_planes_um == [0.0, 2.0]
    assert index.lookup((1, 0, "1", 0)) == ("i", 1)
    assert index.lookup((0, 1, "1", 1)) == ("i", 2)
    assert index.lookup((0, 1, "1", 0)) is None  # a hole
    assert index.lookup((1, 1, "2", 0)) == ("i", 3)


def test_positions_without_organization_are_sparse():
    """OrthancWSIDicomizer writes per-frame positions and no DimensionOrganizationType."""
    positions = [(257, 1, 0.0, "1"), (1, 1, 0.0, "1")]
    model = build_series_model("s", [record("i", wsi_tags(512, 256, organization=None, positions=positions))])
    assert model.levels[0].frames.lookup((0, 0, "1", 0)) == ("i", 1)


def test_background_from_recommended_absent_pixel_lab():
    model = build_series_model("s", [record("i", wsi_tags(256, 256, lab=(0, 32896, 32896)))])
    assert model.background_rgb == (0, 0, 0)
    assert build_series_model("s", [record("i", wsi_tags(256, 256))]).background_rgb == (255, 255, 255)


def test_full_block_outside_its_range():
    block = FullBlock("i", 10, 5, 4, 4, ("1",), (0,))
    assert block.lookup((1, 2, "1", 0)) is None  # frame 9: before this part of the concatenation
    assert block.lookup((2, 2, "1", 0)) == ("i", 0)
    assert block.lookup((3, 3, "1", 0)) is None  # frame 15: after it
    assert FrameIndex([block]).lookup((0, 0, "x", 0)) is None


def test_revision_names_each_instance_with_its_stored_file():
    """Ids hash the UIDs: only the versions tell a series stored again with other pixels from the old one."""
    def model(versions):
        return build_series_model("s", [InstanceRecord(i, wsi_tags(512, 512), JPEG, v) for i, v in versions])

    before = model([("b", "file-1"), ("a", "file-2")])
    assert before.revision == (("a", "file-2"), ("b", "file-1")) and before.versions == {"a": "file-2", "b": "file-1"}
    again = model([("a", "file-2"), ("b", "file-3")])
    assert [i for i, _ in again.revision] == [i for i, _ in before.revision] and again.revision != before.revision


def full_form(tags):
    """Orthanc's full `tags` form of short-form tags (the one TagReader reads both)."""
    def value(v):
        if isinstance(v, list):
            return {"Name": "", "Type": "Sequence", "Value": [full_form(item) for item in v]}
        return {"Name": "", "Type": "Null" if v is None else "String", "Value": v}
    return {key: value(v) for key, v in tags.items()}


def test_full_form_tags_give_the_same_model():
    positions = [(1, 1, 0.0, "1"), (257, 1, 0.0, "1"), (1, 257, 2.0, "1"), (257, 257, 0.0, "2")]
    for tags in (wsi_tags(512, 256, paths=("a", "b"), planes=3),
                 wsi_tags(512, 512, organization="TILED_SPARSE", positions=positions, paths=("1", "2"))):
        short = build_series_model("s", [record("i", tags)])
        full = build_series_model("s", [record("i", full_form(tags))])
        assert [lm.level for lm in full.levels] == [lm.level for lm in short.levels]
        assert full.levels[0].frames.blocks == short.levels[0].frames.blocks
        assert len(full.levels[0].frames) == len(short.levels[0].frames) > 0
        assert (full.optical_paths, full.focal_planes_um, full.background_rgb) == \
            (short.optical_paths, short.focal_planes_um, short.background_rgb)


def test_the_icc_profile_is_read_from_the_smallest_instance_of_its_path():
    """Orthanc parses a whole instance to answer one element: the slide's profile comes from its cheapest holder.
    Whether the slide has a profile is still the finest level's say."""
    def with_icc(tags, paths=("1",)):
        tags["0048,0105"] = [{"0048,0106": p, "0048,0107": f"path {p}", "0028,2000": None} for p in paths]
        return tags

    records = [record("i-level1", with_icc(wsi_tags(1000, 750))), record("i-level0", with_icc(wsi_tags(2000, 1500))),
               record("i-level2", with_icc(wsi_tags(500, 375)))]
    assert build_series_model("s", records).icc_source == ("i-level2", 0)
    two = [record("a", with_icc(wsi_tags(2000, 1500, paths=("1", "2")), ("1", "2"))),
           record("b", with_icc(wsi_tags(500, 375, paths=("2", "1")), ("2", "1")))]
    assert [p.icc_source for p in build_series_model("s", two).optical_paths] == [("b", 1), ("b", 0)]
    records[1] = record("i-level0", wsi_tags(2000, 1500))  # the finest level has none: the slide has none
    assert build_series_model("s", records).icc_source is None
