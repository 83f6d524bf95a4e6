import pytest
from wsi.config import ConfigError, Settings, load_settings


def test_defaults_follow_http_port():
    settings = load_settings({"HttpPort": 9000})
    assert settings == Settings(public_url="http://localhost:9000/",
                                derivative_cache_folder="OrthancStorage/wsi-derivatives")


def test_derivative_cache_defaults_under_orthanc_storage():
    settings = load_settings({"StorageDirectory": "/var/lib/orthanc/db"})
    assert settings.derivative_cache_folder == "/var/lib/orthanc/db/wsi-derivatives"
    assert (settings.derivative_cache_mb, settings.pre_render, settings.warm_first_frames) == (1024, False, True)
    chosen = load_settings({"WholeSlideImaging": {"DerivativeCacheFolder": "/srv/wsi", "DerivativeCacheSizeMB": 0,
                                                  "PreRender": True, "PreRenderCPUShare": 0.5}})
    assert (chosen.derivative_cache_folder, chosen.derivative_cache_mb, chosen.pre_render,
            chosen.pre_render_cpu_share) == ("/srv/wsi", 0, True, 0.5)
    with pytest.raises(ConfigError, match="PreRenderCPUShare"):
        load_settings({"WholeSlideImaging": {"PreRenderCPUShare": 0}})


def test_values_are_read_and_url_gets_a_slash():
    settings = load_settings({"WholeSlideImaging": {
        "EnableIIIF": False, "OrthancPublicURL": "https://pacs.example.org/orthanc", "ServeMirador": True,
        "ServeOpenSeadragon": True, "ForcePowersOfTwoScaleFactors": False, "CacheSizeMB": 64,
        "SeriesCheckSeconds": 1.5, "StreamLargeAnswers": False}})
    assert settings.public_url == "https://pacs.example.org/orthanc/"
    assert settings.stream_large_answers is False and Settings().stream_large_answers is True
    assert (settings.enable_iiif, settings.serve_mirador, settings.force_powers_of_two) == (False, True, False)
    assert settings.cache_size_mb == 64 and settings.series_check_seconds == 1.5


@pytest.mark.parametrize(("key", "value", "words"), [
    ("EnableIIIF", "yes", "expected a boolean"),
    ("StreamLargeAnswers", 1, "expected a boolean"),
    ("CacheSizeMB", True, "whole number"),
    ("CacheSizeMB", 1.5, "whole number"),
    ("CacheSizeMB", -1, "whole number"),
    ("OrthancPublicURL", "ftp://x/", "absolute http"),
    ("OrthancPublicURL", 3, "absolute http"),
    ("JpegQuality", 0, "1 to 100"),
    ("IIIFMaxUpscale", 0.5, "from 1 to 100"),
    ("IIIFMaxUpscale", "2", "from 1 to 100"),
    ("IIIFMaxConcurrentRenders", 0, "from 1 to 64"),
    ("IIIFMaxConcurrentRenders", 2.5, "from 1 to 64"),
    ("IIIFLargeRenderPixels", 100, "4096 or more"),
    ("IIIFRenderQueueSeconds", -1, "from 0 to 600"),
    ("IIIFRenderQueueSeconds", float("nan"), "from 0 to 600"),
    ("IIIFRenderTimeoutSeconds", 0, "from 1 to 3600"),
    ("IIIFRenderTimeoutSeconds", float("inf"), "from 1 to 3600"),
    ("IIIFMaxArea", 0, "positive"),
    ("MaxFramePixels", 100, "from 1024 to 2^30"),
    ("MaxFramePixels", 1 << 31, "from 1024 to 2^30"),
    ("MaxFramePixels", 4096.5, "from 1024 to 2^30"),
    ("MaxWholePixelDataMB", 0, "from 1 to 4096"),
    ("MaxWholePixelDataMB", "64", "from 1 to 4096"),
    ("MallocMmapThresholdKB", -1, "from 0 to 32768"),
    ("MallocMmapThresholdKB", 65536, "from 0 to 32768"),
    ("MallocMmapThresholdKB", True, "from 0 to 32768"),
    ("RepairCallbackLeak", 1, "a boolean"),
    ("Unknown", 1, "unknown option"),
])
def test_errors_name_the_key_and_what_was_expected(key, value, words):
    with pytest.raises(ConfigError) as error:
        load_settings({"WholeSlideImaging": {key: value}})
    assert f"WholeSlideImaging.{key}" in str(error.value) and words in str(error.value)


def test_section_must_be_an_object():
    with pytest.raises(ConfigError):
        load_settings({"WholeSlideImaging": []})


def test_render_limits_have_safe_defaults_and_are_read():
    defaults = Settings()
    # Cantaloupe's 10 MP max_pixels; upscaling bounded; two large renders at once, bounded wait and time.
    assert (defaults.iiif_max_width, defaults.iiif_max_height, defaults.iiif_max_area) == (10000, 10000, 10_000_000)
    assert defaults.iiif_max_upscale == 2.0 and defaults.iiif_max_concurrent_renders == 2
    assert defaults.iiif_render_queue_seconds == 10 and defaults.iiif_render_timeout_seconds == 30
    assert defaults.iiif_large_render_pixels == 1 << 20
    settings = load_settings({"WholeSlideImaging": {
        "IIIFMaxUpscale": 1, "IIIFMaxConcurrentRenders": 4, "IIIFLargeRenderPixels": 500000,
        "IIIFRenderQueueSeconds": 0, "IIIFRenderTimeoutSeconds": 12.5, "IIIFMaxArea": 4000000}})
    assert settings.iiif_max_upscale == 1.0 and isinstance(settings.iiif_max_upscale, float)
    assert (settings.iiif_max_concurrent_renders, settings.iiif_large_render_pixels) == (4, 500000)
    assert (settings.iiif_render_queue_seconds, settings.iiif_render_timeout_seconds) == (0, 12.5)
    assert settings.iiif_max_area == 4_000_000


def test_memory_limits_have_safe_defaults_and_are_read():
    defaults = Settings()
    assert defaults.max_frame_pixels == 1 << 27 and defaults.max_whole_pixel_data_mb == 64
    assert defaults.malloc_mmap_threshold_kb == 128
    assert defaults.repair_callback_leak is True
    settings = load_settings({"WholeSlideImaging": {
        "MaxFramePixels": 4096, "MaxWholePixelDataMB": 1, "MallocMmapThresholdKB": 0,
        "RepairCallbackLeak": False}})
    assert (settings.max_frame_pixels, settings.max_whole_pixel_data_mb) == (4096, 1)
    assert settings.malloc_mmap_threshold_kb == 0
    assert settings.repair_callback_leak is False


def test_decode_threads_default_to_two_reach_openjpeg_and_are_bounded(monkeypatch):
    from wsi.app import use_decode_threads

    assert load_settings({}).decode_threads == 2
    assert load_settings({"WholeSlideImaging": {"DecodeThreads": 1}}).decode_threads == 1
    for bad in (0, 17, "2", 1.5):
        with pytest.raises(ConfigError, match="DecodeThreads"):
            load_settings({"WholeSlideImaging": {"DecodeThreads": bad}})
    monkeypatch.setenv("OPJ_NUM_THREADS", "1")  # restored after the test
    use_decode_threads(3)
    import os

    assert os.environ["OPJ_NUM_THREADS"] == "3"
