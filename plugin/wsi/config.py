"""The "WholeSlideImaging" configuration section, validated once into a frozen Settings."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from .annotations.categories import DEFAULT_CATEGORIES, Category, CategoryError, parse_categories

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    enable_iiif: bool = True
    public_url: str = "http://localhost:8042/"  # always ends with "/"
    serve_mirador: bool = False
    serve_openseadragon: bool = False
    force_powers_of_two: bool = True
    cache_size_mb: int = 256
    frame_cache_size_mb: int = 256  # decoded levels of on-the-fly frame pyramids (frame_levels.py)
    jpeg_quality: int = 90
    png_compression_level: int = 1
    decode_threads: int = 2  # OpenJPEG threads per JPEG 2000 frame (OPJ_NUM_THREADS)
    iiif_max_width: int = 10000
    iiif_max_height: int = 10000
    iiif_max_area: int = 10_000_000  # Cantaloupe's max_pixels; memory and time grow with it (docs/limits.md)
    iiif_max_upscale: float = 2.0
    iiif_max_concurrent_renders: int = 2
    iiif_large_render_pixels: int = 1 << 20
    iiif_render_queue_seconds: float = 10.0
    iiif_render_timeout_seconds: float = 30.0
    iiif_collection_page_size: int = 100  # patients per page of /wsi/iiif/collection.json (each costs a few reads)
    series_check_seconds: float = 5.0
    stream_large_answers: bool = True  # orthanc-python 5.0+ only (adapter.STREAM_MIN_BYTES)
    max_frame_pixels: int = 1 << 27  # a stored frame whose tags or header claim more is refused before decoding
    max_whole_pixel_data_mb: int = 64  # native YBR_FULL_422 instances are read whole for each tile
    malloc_mmap_threshold_kb: int = 128  # blocks this large get their own mapping, returned when freed (allocator.py)
    repair_callback_leak: bool = True  # orthanc-python < 4.1 keeps every request's arguments (callback_leak.py)
    dicomize_max_body_mb: int = 1024  # POST /wsi/dicomize bodies over this are 413 (Orthanc holds a body whole)
    dicomize_spool_folder: str = ""  # where uploaded slides and frames wait on disk; "": the system's temp folder
    dicomize_max_jobs: int = 8  # conversions waiting or running at once (one runs at a time); more: 503
    export_max_buffered_mb: int = 512  # orthanc-python 4.0 answers whole buffers: larger exports are refused
    export_temp_folder: str = ""  # where exports are spooled ("": the system's temporary folder)
    virtualenv: str = ""
    derivative_cache_mb: int = 1024  # decoded-and-re-encoded tiles and IIIF renders on disk (0: off)
    derivative_cache_folder: str = ""  # "": <StorageDirectory>/wsi-derivatives
    pre_render: bool = False  # render a whole-slide series' decoded tiles in the background once Orthanc says stable
    pre_render_cpu_share: float = 0.25  # of one core, at most, while rendering
    pre_render_queue: int = 16  # series waiting to be pre-rendered; more are refused (logged)
    # read frame 0 of each instance when a pyramid is asked for, checking its header for the frame map (prerender.py)
    warm_first_frames: bool = True
    # Orthanc asks clients for credentials (or an authorization plugin decides): answers are then cached only by
    # the browser (Cache-Control: private), never by a shared cache. Read from Orthanc's own options.
    authenticated: bool = False
    annotation_categories: tuple[Category, ...] = DEFAULT_CATEGORIES  # the viewer's short list, with codes
    annotation_max_body_mb: int = 32  # a POST /wsi/annotations body; also the largest object read back
    annotation_max_count: int = 100_000  # annotations in one stored object
    annotation_max_points: int = 2_000_000  # vertices in one stored object


# JSON key -> (Settings field, expected type, description used in error messages)
_KEYS: dict[str, tuple[str, type, str]] = {
    "EnableIIIF": ("enable_iiif", bool, "a boolean"),
    "OrthancPublicURL": ("public_url", str, "an absolute http(s) URL"),
    "ServeMirador": ("serve_mirador", bool, "a boolean"),
    "ServeOpenSeadragon": ("serve_openseadragon", bool, "a boolean"),
    "ForcePowersOfTwoScaleFactors": ("force_powers_of_two", bool, "a boolean"),
    "CacheSizeMB": ("cache_size_mb", int, "a whole number of megabytes (0 to 65536)"),
    "FrameCacheSizeMB": ("frame_cache_size_mb", int, "a whole number of megabytes (0 to 65536)"),
    "JpegQuality": ("jpeg_quality", int, "a whole number from 1 to 100"),
    "PngCompressionLevel": ("png_compression_level", int, "a whole number from 0 to 9"),
    "DecodeThreads": ("decode_threads", int, "a whole number from 1 to 16"),
    "IIIFMaxWidth": ("iiif_max_width", int, "a positive whole number of pixels"),
    "IIIFMaxHeight": ("iiif_max_height", int, "a positive whole number of pixels"),
    "IIIFMaxArea": ("iiif_max_area", int, "a positive whole number of pixels"),
    "IIIFMaxUpscale": ("iiif_max_upscale", float, "a number from 1 to 100 (1: no upscaling)"),
    "IIIFMaxConcurrentRenders": ("iiif_max_concurrent_renders", int, "a whole number from 1 to 64"),
    "IIIFLargeRenderPixels": ("iiif_large_render_pixels", int, "a whole number of pixels (4096 or more)"),
    "IIIFRenderQueueSeconds": ("iiif_render_queue_seconds", float, "a number of seconds from 0 to 600"),
    "IIIFRenderTimeoutSeconds": ("iiif_render_timeout_seconds", float, "a number of seconds from 1 to 3600"),
    "IIIFCollectionPageSize": ("iiif_collection_page_size", int, "a whole number of patients from 1 to 1000"),
    "SeriesCheckSeconds": ("series_check_seconds", float, "a number of seconds (0 or more)"),
    "StreamLargeAnswers": ("stream_large_answers", bool, "a boolean"),
    "MaxFramePixels": ("max_frame_pixels", int, "a whole number of pixels from 1024 to 2^30"),
    "MaxWholePixelDataMB": ("max_whole_pixel_data_mb", int, "a whole number of megabytes from 1 to 4096"),
    "MallocMmapThresholdKB": ("malloc_mmap_threshold_kb", int,
                              "a whole number of kilobytes from 0 to 32768 (0: glibc's own, moving threshold)"),
    "RepairCallbackLeak": ("repair_callback_leak", bool, "a boolean"),
    "DicomizeMaxBodyMB": ("dicomize_max_body_mb", int, "a whole number of megabytes from 1 to 65536"),
    "DicomizeSpoolFolder": ("dicomize_spool_folder", str, "a folder path"),
    "DicomizeMaxJobs": ("dicomize_max_jobs", int, "a whole number from 1 to 1000"),
    "ExportMaxBufferedMB": ("export_max_buffered_mb", int, "a whole number of megabytes from 1 to 4096"),
    "ExportTempFolder": ("export_temp_folder", str, "a folder path"),
    "VirtualEnv": ("virtualenv", str, "a folder path"),
    "DerivativeCacheSizeMB": ("derivative_cache_mb", int, "a whole number of megabytes (0: off)"),
    "DerivativeCacheFolder": ("derivative_cache_folder", str, "a folder path"),
    "PreRender": ("pre_render", bool, "a boolean"),
    "PreRenderCPUShare": ("pre_render_cpu_share", float, "a number from 0.01 to 1 (share of one core)"),
    "PreRenderQueueSize": ("pre_render_queue", int, "a whole number of series from 1 to 10000"),
    "WarmFirstFrames": ("warm_first_frames", bool, "a boolean"),
    "AnnotationCategories": ("annotation_categories", list,
                             'a list of {"Label", "Category": [code, scheme, meaning], "Type": [...], "Colour"}'),
    "AnnotationMaxBodyMB": ("annotation_max_body_mb", int, "a whole number of megabytes from 1 to 1024"),
    "AnnotationMaxCount": ("annotation_max_count", int, "a whole number from 1 to 10000000"),
    "AnnotationMaxPoints": ("annotation_max_points", int, "a whole number from 1 to 100000000"),
}

_RANGES: dict[str, tuple[float, float]] = {
    "cache_size_mb": (0, 65536), "frame_cache_size_mb": (0, 65536), "jpeg_quality": (1, 100),
    "png_compression_level": (0, 9),
    "decode_threads": (1, 16),
    "iiif_max_width": (1, 1 << 30), "iiif_max_height": (1, 1 << 30), "iiif_max_area": (1, 1 << 40),
    "iiif_max_upscale": (1, 100), "iiif_max_concurrent_renders": (1, 64),
    "iiif_large_render_pixels": (4096, 1 << 40), "iiif_render_queue_seconds": (0, 600),
    "iiif_render_timeout_seconds": (1, 3600), "iiif_collection_page_size": (1, 1000),
    "series_check_seconds": (0, 86400),
    "max_frame_pixels": (1024, 1 << 30), "max_whole_pixel_data_mb": (1, 4096),
    "malloc_mmap_threshold_kb": (0, 32768), "export_max_buffered_mb": (1, 4096),
    "dicomize_max_body_mb": (1, 65536), "dicomize_max_jobs": (1, 1000),
    "derivative_cache_mb": (0, 1 << 22), "pre_render_cpu_share": (0.01, 1), "pre_render_queue": (1, 10000),
    "annotation_max_body_mb": (1, 1024), "annotation_max_count": (1, 10_000_000),
    "annotation_max_points": (1, 100_000_000),
}


class ConfigError(ValueError):
    """A configuration value is of the wrong type or out of range; the message names the key."""


def _check(key: str, value: Any) -> Any:
    name, kind, expected = _KEYS[key]
    if kind is list:
        try:
            return parse_categories(value)
        except CategoryError as error:
            raise ConfigError(f"WholeSlideImaging.{key}: {error}") from None
    # bool is an int in Python: refuse true/false where a number is expected, and the reverse.
    ok = isinstance(value, bool) if kind is bool else (
        isinstance(value, str) if kind is str else
        isinstance(value, int | float) and not isinstance(value, bool) and (kind is float or float(value).is_integer()))
    if not ok:
        raise ConfigError(f'WholeSlideImaging.{key}: expected {expected}, got {value!r}')
    value = kind(value)
    low, high = _RANGES.get(name, (None, None))
    if low is not None and not low <= value <= high:
        raise ConfigError(f'WholeSlideImaging.{key}: expected {expected}, got {value!r}')
    if name == "public_url":
        if not value.startswith(("http://", "https://")):
            raise ConfigError(f'WholeSlideImaging.{key}: expected {expected}, got {value!r}')
        value = value if value.endswith("/") else value + "/"
    return value


def orthanc_authenticates(configuration: dict) -> bool:
    """Whether Orthanc asks clients for credentials: "AuthenticationEnabled", which (since Orthanc 1.5.8) defaults to
    "RemoteAccessAllowed" (itself false by default); or an authorization plugin's "Authorization" section."""
    enabled = configuration.get("AuthenticationEnabled", configuration.get("RemoteAccessAllowed", False))
    return enabled is True or "Authorization" in configuration


def load_settings(configuration: dict) -> Settings:
    """Settings from Orthanc's whole configuration; raises ConfigError naming the faulty key."""
    section = configuration.get("WholeSlideImaging", {})
    if not isinstance(section, dict):
        raise ConfigError("WholeSlideImaging: expected a JSON object")
    port = configuration.get("HttpPort", 8042)
    storage = configuration.get("StorageDirectory", "OrthancStorage")
    values: dict[str, Any] = {"public_url": f"http://localhost:{port}/",
                              "derivative_cache_folder": os.path.join(str(storage), "wsi-derivatives"),
                              "authenticated": orthanc_authenticates(configuration)}
    for key, value in section.items():
        if key not in _KEYS:
            raise ConfigError(f"WholeSlideImaging.{key}: unknown option (known: {', '.join(sorted(_KEYS))})")
        values[_KEYS[key][0]] = _check(key, value)
    return Settings(**values)
