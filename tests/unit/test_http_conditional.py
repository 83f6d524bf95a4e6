"""Conditional GET (If-None-Match, RFC 9110 section 13.1.2) shared by the viewer assets and the IIIF answers."""

import pytest
from wsi.http import content_etag, etag_matches

TAG = content_etag(b"body")


def test_the_tag_is_quoted_and_follows_the_body() -> None:
    assert TAG.startswith('"') and TAG.endswith('"') and content_etag(b"other body") != TAG


@pytest.mark.parametrize(("header", "matches"), [
    (TAG, True), (f"W/{TAG}", True), (f'"x", {TAG}', True), ("*", True), (" * ", True),
    ("", False), ('"x"', False), (TAG.strip('"'), False), (TAG[:-2] + '"', False), (",,,", False),
])
def test_if_none_match(header: str, matches: bool) -> None:
    assert etag_matches(header, TAG) is matches
