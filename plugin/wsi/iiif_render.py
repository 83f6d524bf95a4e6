"""IIIF Image API 3.0: resolve an `ImageRequest` against an image into a `RenderPlan`, then carry it out.

Planning is plain arithmetic on the full-resolution geometry (`Pyramid`) and the server limits.
Execution reads only the tiles of the chosen level through a `read_tile(level, tx, ty)` callable and
resamples them band by band (`resample`: memory bounded by the output, not the region), then mirrors/
rotates, converts the quality and encodes. The limits bound the image sent, rotation included.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, features

from . import encoders
from .errors import BadRequest, UnsupportedFeature
from .iiif_request import FORMAT_MEDIA_TYPES, ImageRequest, Region, Size, format_number
from .pyramid import Level, Pyramid, choose_level
from .resample import Check, TileReader, resample_region

# Formats we can encode (Pillow); jp2 only when Pillow was built with OpenJPEG.
SUPPORTED_FORMATS: tuple[str, ...] = ("jpg", "png", "webp", "tif", "gif", "pdf") + (
    ("jp2",) if features.check("jpg_2000") else ()
)
_ALPHA_FORMATS = ("png", "webp", "tif")  # transparent corners for arbitrary rotations
_PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP", "tif": "TIFF", "gif": "GIF", "pdf": "PDF",
                "jp2": "JPEG2000"}
JPEG_QUALITY = 90

# Radiology frames larger than this (either side) are published as a virtual pyramid of tiles.
FRAME_TILING_THRESHOLD = 1024
FRAME_TILE_SIZE = 512


@dataclass(frozen=True)
class Limits:
    """Server-imposed size limits (info.json maxWidth, maxHeight, maxArea) and the largest upscale."""

    max_width: int
    max_height: int
    max_area: int
    max_upscale: float = math.inf  # output px per region px with `^`; the service passes IIIFMaxUpscale

    def allows(self, width: int, height: int) -> bool:
        return width <= self.max_width and height <= self.max_height and width * height <= self.max_area

    def fit_scale(self, width: float, height: float) -> float:
        """Largest scale at which a width x height image stays within the limits."""
        area_scale = math.sqrt(self.max_area / (width * height))
        return min(self.max_width / width, self.max_height / height, area_scale)

    def fit(self, width: int, height: int, upscale: bool = False, rotation: float = 0.0) -> tuple[int, int]:
        """Largest size with this aspect ratio whose output (rotated by `rotation`) is within the limits,
        never above 1:1 unless upscale, and then never above max_upscale."""
        out_w, out_h = _rotated_extent(width, height, rotation)
        scale = self.fit_scale(out_w, out_h)
        scale = min(scale, self.max_upscale) if upscale else min(scale, 1.0)
        if scale == 1.0 and self.allows(*rotated_size(width, height, rotation)):
            return width, height
        # The epsilon keeps 300 * (200 / 300) at 200, not 199; the loop undoes any overshoot
        # (a rotated box is up to a pixel larger than its real extent).
        w, h = max(1, math.floor(width * scale + 1e-6)), max(1, math.floor(height * scale + 1e-6))
        while not self.allows(*rotated_size(w, h, rotation)) and w * h > 1:
            scale *= 0.999
            w, h = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
        return w, h


def _rotated_extent(width: float, height: float, degrees: float) -> tuple[float, float]:
    """Exact width and height of the bounding box of a width x height rectangle turned by `degrees`."""
    if degrees % 90 == 0:
        return (height, width) if degrees % 180 else (width, height)
    radians = math.radians(degrees)
    cos, sin = abs(math.cos(radians)), abs(math.sin(radians))
    return width * cos + height * sin, width * sin + height * cos


def rotated_size(width: int, height: int, degrees: float) -> tuple[int, int]:
    """Pixel size of a width x height image rotated by `degrees` with the canvas expanded to hold it.

    Pillow turns the image about its centre and takes the whole pixels its corners fall in, so the
    box may start and end in partial pixels. Rounded outwards, so never smaller than Pillow's canvas.
    """
    if degrees % 90 == 0:
        return (height, width) if degrees % 180 else (width, height)
    extent_w, extent_h = _rotated_extent(width, height, degrees)
    return (math.ceil(width / 2 + extent_w / 2 + 1e-9) - math.floor(width / 2 - extent_w / 2 - 1e-9),
            math.ceil(height / 2 + extent_h / 2 + 1e-9) - math.floor(height / 2 - extent_h / 2 - 1e-9))


@dataclass(frozen=True)
class RenderPlan:
    region: tuple[int, int, int, int]  # x, y, w, h in full-resolution pixels, clipped to the image
    size: tuple[int, int]  # output width, height before rotation
    level: int  # pyramid level to read from
    rotation: float  # clockwise degrees, 0 <= r < 360
    mirror: bool
    quality: str  # as requested: default (as stored), color, gray or bitonal
    format: str
    canonical: str  # canonical "region/size/rotation/quality.format" (IIIF 3.0 section 4.7)
    source_pixels: int = 0  # pixels of the level's tiles the region touches (the decoding work)

    @property
    def media_type(self) -> str:
        return FORMAT_MEDIA_TYPES[self.format]

    @property
    def output_size(self) -> tuple[int, int]:
        """Width and height of the image sent, after rotation."""
        return rotated_size(*self.size, self.rotation)

    @property
    def output_pixels(self) -> int:
        width, height = self.output_size
        return width * height


def resolve_region(region: Region, width: int, height: int) -> tuple[int, int, int, int]:
    """IIIF 3.0 section 4.1: region in full-resolution pixels, cropped at the image edges."""
    if region.kind == "full":
        return 0, 0, width, height
    if region.kind == "square":
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    if region.kind == "percent":
        x0, y0 = round(region.x * width / 100), round(region.y * height / 100)
        x1 = round((region.x + region.w) * width / 100)
        y1 = round((region.y + region.h) * height / 100)
        # A tiny but non-zero percentage still asks for something: keep one pixel.
        x, y, w, h = x0, y0, max(1, x1 - x0), max(1, y1 - y0)
    else:
        x, y, w, h = int(region.x), int(region.y), int(region.w), int(region.h)
    if x >= width or y >= height:
        raise BadRequest("region is entirely outside the image", "region")
    return x, y, min(w, width - x), min(h, height - y)


def resolve_size(size: Size, region_w: int, region_h: int, limits: Limits,
                 rotation: float = 0.0) -> tuple[int, int]:
    """IIIF 3.0 section 4.2: output size of the extracted region, checked against upscaling and limits.

    The limits hold for what is sent: the canvas after `rotation` (a 45-degree turn of a maxArea image
    would otherwise answer twice maxArea).
    """
    if size.kind == "max":
        return limits.fit(region_w, region_h, upscale=size.upscale, rotation=rotation)
    if size.kind == "w":
        w, h = size.w, round(region_h * size.w / region_w)
    elif size.kind == "h":
        w, h = round(region_w * size.h / region_h), size.h
    elif size.kind == "pct":
        w, h = round(region_w * size.pct / 100), round(region_h * size.pct / 100)
    elif size.kind == "wh":
        w, h = size.w, size.h
    else:  # confined: as large as possible within the box and the limits
        scale = min(size.w / region_w, size.h / region_h)
        if scale > 1 and not size.upscale:
            # The box-fitted region is the "scaled region" of section 4.2; the official validator
            # (size_noup: !2000,3000 of a 1000 px image) expects this to be refused without ^.
            raise BadRequest("a box larger than the region requires ^ (IIIF 3.0)", "size")
        scale = min(scale, limits.fit_scale(*_rotated_extent(region_w, region_h, rotation)), limits.max_upscale)
        w = min(size.w, max(1, round(region_w * scale)))
        h = min(size.h, max(1, round(region_h * scale)))
        if not limits.allows(*rotated_size(w, h, rotation)):
            w, h = limits.fit(w, h, rotation=rotation)  # the rotated canvas rounded a pixel over
    if w < 1 or h < 1:
        raise BadRequest("requested size is less than one pixel", "size")
    if not size.upscale and (w > region_w or h > region_h):
        raise BadRequest("size larger than the region requires ^ (IIIF 3.0)", "size")
    if w > region_w * limits.max_upscale + 0.5 or h > region_h * limits.max_upscale + 0.5:
        raise BadRequest(f"size {w}x{h} upscales the region more than {format_number(limits.max_upscale)}x "
                         "(IIIFMaxUpscale)", "size")
    out_w, out_h = rotated_size(w, h, rotation)
    if not limits.allows(out_w, out_h):
        turned = f" ({out_w}x{out_h} once rotated)" if (out_w, out_h) != (w, h) else ""
        raise BadRequest(f"size {w}x{h}{turned} exceeds maxWidth/maxHeight/maxArea "
                         f"({limits.max_width}/{limits.max_height}/{limits.max_area})", "size")
    return w, h


def _canonical(request: ImageRequest, region: tuple[int, int, int, int], size: tuple[int, int],
               full: tuple[int, int]) -> str:
    x, y, w, h = region
    region_text = "full" if region == (0, 0, *full) else f"{x},{y},{w},{h}"
    upscaled = size[0] > w or size[1] > h
    if request.size.kind == "max":
        size_text = "^max" if request.size.upscale and upscaled else "max"
    else:
        size_text = ("^" if upscaled else "") + f"{size[0]},{size[1]}"
    rotation_text = ("!" if request.rotation.mirror else "") + format_number(request.rotation.degrees)
    return f"{region_text}/{size_text}/{rotation_text}/{request.quality}.{request.format}"


def plan_render(request: ImageRequest, pyramid: Pyramid, limits: Limits) -> RenderPlan:
    """Resolve a parsed request against the image geometry; raises BadRequest / UnsupportedFeature."""
    if request.format not in SUPPORTED_FORMATS:
        # A format the specification names but this server cannot encode: valid, not implemented.
        raise UnsupportedFeature(f"format {request.format!r} is not implemented")
    region = resolve_region(request.region, pyramid.width, pyramid.height)
    rotation = request.rotation.degrees % 360
    size = resolve_size(request.size, region[2], region[3], limits, rotation)
    scale = max(size[0] / region[2], size[1] / region[3])
    level = choose_level(pyramid, scale)
    return RenderPlan(
        region=region,
        size=size,
        level=level,
        rotation=rotation,
        mirror=request.rotation.mirror,
        quality=request.quality,
        format=request.format,
        canonical=_canonical(request, region, size, (pyramid.width, pyramid.height)),
        source_pixels=_touched_pixels(pyramid, level, region),
    )


def _touched_pixels(pyramid: Pyramid, level_index: int, region: tuple[int, int, int, int]) -> int:
    """Pixels of the tiles of a level that a full-resolution region touches."""
    level = pyramid.levels[level_index]
    dsx, dsy = pyramid.downsample_xy(level_index)
    x, y, w, h = region
    first_x, first_y = int(x / dsx) // level.tile_width, int(y / dsy) // level.tile_height
    last_x = min(level.tiles_x - 1, (math.ceil((x + w) / dsx) - 1) // level.tile_width)
    last_y = min(level.tiles_y - 1, (math.ceil((y + h) / dsy) - 1) // level.tile_height)
    return max(1, last_x - first_x + 1) * max(1, last_y - first_y + 1) * level.tile_width * level.tile_height


def aligned_tile(plan: RenderPlan, pyramid: Pyramid) -> tuple[int, int] | None:
    """(column, row) when the plan is exactly one whole stored tile of its level, at its stored size."""
    if plan.rotation or plan.mirror or plan.quality not in ("default", "color") or plan.format != "jpg":
        return None
    level = pyramid.levels[plan.level]
    dx, dy = pyramid.downsample_xy(plan.level)
    x, y, w, h = plan.region
    lx, ly, lw, lh = round(x / dx), round(y / dy), round(w / dx), round(h / dy)
    whole = (lw, lh) == (level.tile_width, level.tile_height) == plan.size
    aligned = lx % level.tile_width == 0 and ly % level.tile_height == 0
    inside = lx + lw <= level.width and ly + lh <= level.height  # edge tiles need cropping
    exact = abs(lx * dx - x) < 1 and abs(ly * dy - y) < 1 and abs(lw * dx - w) < dx and abs(lh * dy - h) < dy
    return (lx // level.tile_width, ly // level.tile_height) if whole and aligned and inside and exact else None


def frame_pyramid(width: int, height: int) -> Pyramid:
    """Virtual pyramid of a decoded frame: one level when small, else 512-px tiles at factors 1, 2, 4..."""
    if max(width, height) <= FRAME_TILING_THRESHOLD:
        return Pyramid((Level(width, height, width, height),))
    levels = []
    factor = 1
    while True:
        level_w, level_h = -(-width // factor), -(-height // factor)
        levels.append(Level(level_w, level_h, FRAME_TILE_SIZE, FRAME_TILE_SIZE))
        if max(level_w, level_h) <= FRAME_TILE_SIZE:
            return Pyramid(tuple(levels))
        factor *= 2


def _never() -> None:
    return None


def _scaled_region(plan: RenderPlan, pyramid: Pyramid, read_tile: TileReader, check: Check) -> np.ndarray:
    level = pyramid.levels[plan.level]
    dsx, dsy = pyramid.downsample_xy(plan.level)
    x, y, w, h = plan.region
    # Region in the level's (fractional) pixels; the resampling box keeps the sub-pixel offset.
    lx0, ly0 = x / dsx, y / dsy
    lx1, ly1 = min((x + w) / dsx, level.width), min((y + h) / dsy, level.height)
    # A level rounded down by a pixel can put the region's start at its edge: keep one pixel.
    lx0, ly0 = min(lx0, max(0.0, lx1 - 1)), min(ly0, max(0.0, ly1 - 1))
    return resample_region(read_tile, plan.level, level, (lx0, ly0, lx1, ly1), plan.size,
                           pyramid.background_rgb, check)


def _apply_quality(image: Image.Image, quality: str) -> Image.Image:
    if quality == "color":
        return image if image.mode == "RGB" else image.convert("RGB")
    if quality in ("gray", "bitonal"):
        gray = image if image.mode == "L" else image.convert("L")
        return gray.point(lambda v: 255 if v >= 128 else 0) if quality == "bitonal" else gray
    return image  # default: as stored (RGB slides, gray or RGB radiology frames)


_QUARTER_TURNS = {90: -1, 180: 2, 270: 1}  # clockwise degrees -> numpy rot90 k (counter-clockwise turns)


def _apply_rotation(image: Image.Image, plan: RenderPlan) -> Image.Image:
    # IIIF 3.0 section 4.3: mirror on the vertical axis first, then rotate clockwise.
    if plan.mirror:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    quarter = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
               270: Image.Transpose.ROTATE_90}
    if plan.rotation == 0:
        return image
    if plan.rotation in quarter:
        return image.transpose(quarter[plan.rotation])
    if plan.format in _ALPHA_FORMATS:
        image = image.convert("LA" if image.mode == "L" else "RGBA")
        fill: tuple[int, ...] = (0,) * len(image.getbands())
    else:
        fill = (255,) * len(image.getbands())
    resample = Image.Resampling.NEAREST if plan.quality == "bitonal" else Image.Resampling.BICUBIC
    # Pillow rotates counter-clockwise; expand keeps every requested pixel, unscaled.
    return image.rotate(-plan.rotation, resample=resample, expand=True, fillcolor=fill)


def _render(plan: RenderPlan, pyramid: Pyramid, read_tile: TileReader, check: Check) -> np.ndarray | Image.Image:
    """The image to encode. Plain cases stay one numpy array (mirrors and quarter turns are views);
    only quality changes and arbitrary rotations go through a Pillow copy."""
    pixels = _scaled_region(plan, pyramid, read_tile, check)
    as_stored = plan.quality == "default" or (plan.quality == "color" and pixels.ndim == 3)
    if as_stored and (plan.rotation == 0 or plan.rotation in _QUARTER_TURNS):
        if plan.mirror:
            pixels = pixels[:, ::-1]
        return np.rot90(pixels, _QUARTER_TURNS[plan.rotation]) if plan.rotation else pixels
    image = Image.fromarray(pixels)
    del pixels  # Pillow holds its own copy
    check()
    return _apply_rotation(_apply_quality(image, plan.quality), plan)


def _uses_imagecodecs(fmt: str, channels: int) -> bool:
    # imagecodecs' JPEG takes no alpha and its WebP only colour: Pillow converts those itself.
    refused = (fmt == "jpg" and channels not in (1, 3)) or (fmt == "webp" and channels not in (3, 4))
    return FORMAT_MEDIA_TYPES[fmt] in encoders.ENCODABLE_MEDIA_TYPES and not refused


def _channels(pixels: np.ndarray | Image.Image) -> int:
    if isinstance(pixels, Image.Image):
        return len(pixels.getbands())
    return 1 if pixels.ndim == 2 else pixels.shape[2]


def encode_image(pixels: np.ndarray | Image.Image, fmt: str, icc: bytes | None = None,
                 quality: int = JPEG_QUALITY, png_level: int = 1) -> bytes:
    """The one place that encodes: wsi.codec (imagecodecs) where it can, Pillow for the other formats.

    Each encoder writes its answer once (imagecodecs returns bytes; BytesIO.getvalue hands over its buffer).
    """
    channels = _channels(pixels)
    icc = icc if channels in (3, 4) else None  # an RGB profile would be invalid in a grey image
    if _uses_imagecodecs(fmt, channels):
        array = np.asarray(pixels)
        return encoders.encode(array, FORMAT_MEDIA_TYPES[fmt], icc=icc, quality=quality, png_level=png_level)
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(np.ascontiguousarray(pixels))
    if fmt == "gif" and image.mode not in ("L", "P"):
        # Pillow's default (median cut) took 12 s and 280 MB for 10 MP; fast octree 0.7 s and 65 MB.
        image = image.quantize(256, method=Image.Quantize.FASTOCTREE)
    options: dict[str, object] = {"quality": quality} if fmt in ("jpg", "webp") else {}
    if fmt == "tif":
        options["compression"] = "tiff_adobe_deflate"  # an uncompressed TIFF is 3-4 bytes a pixel
    if icc and fmt in ("jpg", "webp", "tif"):
        options["icc_profile"] = icc
    buffer = io.BytesIO()
    image.save(buffer, format=_PIL_FORMATS[fmt], **options)
    return buffer.getvalue()


def render_image(plan: RenderPlan, pyramid: Pyramid, read_tile: TileReader, icc: bytes | None = None,
                 quality: int = JPEG_QUALITY, png_level: int = 1, check: Check = _never) -> bytes:
    """Render and encode, holding as few full-size copies as the encoder allows."""
    result = _render(plan, pyramid, read_tile, check)
    check()
    channels = _channels(result)
    if isinstance(result, Image.Image) and _uses_imagecodecs(plan.format, channels):
        result = np.asarray(result)  # rebinding frees Pillow's copy before the encoder allocates
    elif not isinstance(result, Image.Image) and not _uses_imagecodecs(plan.format, channels):
        result = Image.fromarray(np.ascontiguousarray(result))
    return encode_image(result, plan.format, icc, quality, png_level)
