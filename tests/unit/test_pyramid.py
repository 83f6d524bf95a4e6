import pytest
from wsi.pyramid import Level, Pyramid, choose_level, consistent_levels, power_of_two_levels


def pyramid_of(*sizes, tile=256):
    return Pyramid(tuple(Level(w, h, tile, tile) for w, h in sizes))


def test_tiles_count_rounds_up():
    level = Level(1000, 513, 256, 256)
    assert (level.tiles_x, level.tiles_y) == (4, 3)


def test_downsample_is_width_ratio_as_the_cpp_plugin():
    p = pyramid_of((2100, 1500), (1050, 750), (525, 375))
    assert [p.downsample(i) for i in range(3)] == [1.0, 2.0, 4.0]


def test_choose_level_picks_coarsest_level_still_detailed_enough():
    p = pyramid_of((4000, 3000), (2000, 1500), (1000, 750), (500, 375))
    assert choose_level(p, 1.0) == 0
    assert choose_level(p, 0.5) == 1
    assert choose_level(p, 0.3) == 1  # 1/0.3 = 3.33: level 2 (x4) would be too coarse
    assert choose_level(p, 0.25) == 2
    assert choose_level(p, 0.01) == 3
    assert choose_level(p, 4.0) == 0
    with pytest.raises(ValueError):
        choose_level(p, 0)


def test_choose_level_tolerates_a_level_a_pixel_short():
    p = pyramid_of((2001, 1001), (1000, 500))
    assert choose_level(p, 0.5) == 1


def test_non_power_of_two_levels_and_power_of_two_subset():
    p = pyramid_of((2100, 2100), (700, 700), (300, 300), (525, 525))
    ordered = Pyramid(tuple(sorted(p.levels, key=lambda lv: -lv.width)))
    assert [lv.width for lv in ordered.levels] == [2100, 700, 525, 300]
    assert power_of_two_levels(ordered) == [(0, 1), (2, 4)]


def test_consistent_levels_drops_a_level_of_another_aspect():
    levels = [Level(4000, 3000, 256, 256), Level(2000, 1500, 256, 256), Level(1000, 1000, 256, 256),
              Level(1001, 749, 256, 256)]
    assert [(lv.width, lv.height) for lv in consistent_levels(levels)] == [(4000, 3000), (2000, 1500), (1001, 749)]


def test_background_hex():
    assert Pyramid((Level(1, 1, 1, 1),), (255, 0, 16)).background_hex == "#ff0010"
