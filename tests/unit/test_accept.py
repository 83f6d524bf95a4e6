import pytest
from wsi.accept import choose_media_type, choose_tile_media_type
from wsi.errors import NotAcceptable


def test_q_values_decide():
    assert choose_media_type("image/png;q=0.5, image/jpeg", "image/png") == "image/jpeg"
    assert choose_media_type("image/png;q=abc, image/jpeg;q=0.5", "image/jpeg") == "image/png"  # abc: q=1


@pytest.mark.parametrize(("header", "default", "expected"), [
    ("", "image/jpeg", "image/jpeg"),
    ("*/*", "image/jpeg", "image/jpeg"),
    ("image/*", "image/png", "image/png"),
    ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", "image/jpeg", "image/jpeg"),
    ("image/png", "image/jpeg", "image/png"),
    ("image/jp2", "image/jpeg", "image/jp2"),
    ("image/jpeg;q=0.4, image/png;q=0.9", "image/jpeg", "image/png"),
    ("image/jpeg;q=0, image/*", "image/jpeg", "image/png"),
    ("text/html, image/png;q=0.1", "image/jpeg", "image/png"),
    ("IMAGE/PNG", "image/jpeg", "image/png"),
])
def test_choose_media_type(header, default, expected):
    assert choose_media_type(header, default) == expected


@pytest.mark.parametrize("header", ["text/html", "image/*;q=0", "application/json, */*;q=0"])
def test_nothing_acceptable(header):
    with pytest.raises(NotAcceptable):
        choose_media_type(header, "image/jpeg")
    with pytest.raises(NotAcceptable):
        choose_tile_media_type(header, "image/png")


@pytest.mark.parametrize("q", ["nan", "NaN", "inf", "-inf", "-1", "1e400", "9" * 5000, "0x1p3", "", " ",
                               "1.0000001", "0.5.5", "١"])
def test_odd_q_values_count_as_one_and_never_fail(q):
    assert choose_media_type(f"image/png;q={q}, image/jpeg;q=0.5", "image/jpeg") == "image/png"


def test_plain_q_values_are_kept_and_clipped():
    assert choose_media_type("image/png;q=0.25, image/jpeg;q=2, */*;q=0", "image/png") == "image/jpeg"
    # q=2 is clipped to 1: a tie with image/png, which the default then wins.
    assert choose_media_type("image/jpeg;q=2, image/png", "image/png") == "image/png"
    with pytest.raises(NotAcceptable):
        choose_media_type("image/png;q=0.25, */*;q=0", "image/jpeg", ("image/jpeg", "image/jp2"))


@pytest.mark.parametrize(("q", "expected"), [("+0.5", 0.5), ("1e-400", 0.0), ("5e-1", 0.5)])
def test_q_values_python_reads_inside_0_1_are_kept(q, expected):
    # python-mimeparse takes any q that float() reads inside [0, 1] (our hand-written parser wanted RFC 9110's
    # plain decimals only and counted these as 1): still a bounded number, never an error.
    chosen = choose_media_type(f"image/png;q={q}, image/jpeg;q=0.3", "image/jpeg")
    assert chosen == ("image/png" if expected > 0.3 else "image/jpeg")


@pytest.mark.parametrize(("header", "expected"), [
    ("image, text/html", "text/html"),  # "image" has no subtype: skipped
    (",,, ;q=1", None),  # nothing readable: as if there were no header
    ("text/html;level=1;q=0.5, IMAGE/*;Q=0.2", "image/png"),
])
def test_unreadable_elements_are_skipped(header, expected):
    if expected is None:
        assert choose_media_type(header, "image/jpeg") == "image/jpeg"  # as if there were no header
        assert choose_media_type(header, "image/png") == "image/png"
    elif expected == "text/html":
        with pytest.raises(NotAcceptable):
            choose_media_type(header, "image/jpeg")
    else:
        assert choose_media_type(header, "image/png") == expected


def test_a_long_header_is_parsed_in_bounded_time():
    header = ", ".join(f"image/x-{i};q=0.{i % 10}" for i in range(5000)) + ", image/jpeg;q=0.1"
    assert choose_media_type(header, "image/png") == "image/jpeg"


CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX = "image/avif,image/webp,*/*"
SAFARI_14 = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"


@pytest.mark.parametrize(("header", "default", "expected"), [
    (CHROME, "image/png", "image/webp"),  # a tile to re-encode: lossless WebP to browsers
    (FIREFOX, "image/png", "image/webp"),
    (SAFARI_14, "image/png", "image/webp"),
    ("image/webp,image/*,*/*;q=0.8", "image/png", "image/webp"),  # the viewer's fetch (direct-frames.js)
    (CHROME, "image/jpeg", "image/jpeg"),  # a stored JPEG goes out as stored
    ("", "image/png", "image/png"),  # no header, */*, image/*: PNG, as before
    ("*/*", "image/png", "image/png"),
    ("image/*", "image/png", "image/png"),
    ("image/png, image/webp;q=0.9", "image/png", "image/png"),  # WebP only at no lower a q than PNG
    ("image/webp;q=0, image/*", "image/png", "image/png"),
    ("image/webp", "image/png", "image/webp"),
    ("image/webp", "image/jpeg", "image/webp"),  # only WebP: a stored JPEG is decoded and sent as WebP
    ("image/jpeg, image/webp", "image/png", "image/jpeg"),  # asked JPEG (lossy) at the same q: the first offer
    ("image/jp2", "image/png", "image/jp2"),
    ("IMAGE/WEBP, image/png", "image/png", "image/webp"),
])
def test_choose_tile_media_type(header, default, expected):
    assert choose_tile_media_type(header, default) == expected


def test_webp_is_not_offered_where_the_route_does_not():
    assert choose_tile_media_type(CHROME, "image/png", ("image/png", "image/jpeg")) == "image/png"
