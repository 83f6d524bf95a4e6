import pytest
from wsi.config import ConfigError, Settings, load_settings


def test_defaults_follow_http_port():
    settings = load_settings({"HttpPort": 9000})
    assert settings == Settings(public_url="http://localhost:9000/")


def test_values_are_read_and_url_gets_a_slash():
    settings = load_settings({"WholeSlideImaging": {
        "EnableIIIF": False, "OrthancPublicURL": "https://pacs.example.org/orthanc", "ServeMirador": True,
        "ServeOpenSeadragon": True, "ForcePowersOfTwoScaleFactors": False, "CacheSizeMB": 64,
        "SeriesCheckSeconds": 1.5}})
    assert settings.public_url == "https://pacs.example.org/orthanc/"
    assert (settings.enable_iiif, settings.serve_mirador, settings.force_powers_of_two) == (False, True, False)
    assert settings.cache_size_mb == 64 and settings.series_check_seconds == 1.5


@pytest.mark.parametrize(("key", "value", "words"), [
    ("EnableIIIF", "yes", "expected a boolean"),
    ("CacheSizeMB", True, "whole number"),
    ("CacheSizeMB", 1.5, "whole number"),
    ("CacheSizeMB", -1, "whole number"),
    ("OrthancPublicURL", "ftp://x/", "absolute http"),
    ("OrthancPublicURL", 3, "absolute http"),
    ("JpegQuality", 0, "1 to 100"),
    ("Unknown", 1, "unknown option"),
])
def test_errors_name_the_key_and_what_was_expected(key, value, words):
    with pytest.raises(ConfigError) as error:
        load_settings({"WholeSlideImaging": {key: value}})
    assert f"WholeSlideImaging.{key}" in str(error.value) and words in str(error.value)


def test_section_must_be_an_object():
    with pytest.raises(ConfigError):
        load_settings({"WholeSlideImaging": []})
