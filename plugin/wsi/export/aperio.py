"""The Aperio SVS conventions readers rely on (pure): ImageDescription strings and resolution values.

OpenSlide's "aperio" reader takes a TIFF whose first ImageDescription starts with "Aperio"; the fields after
the first "|" become aperio.* properties, "MPP" giving openslide.mpp-x/-y and "AppMag" openslide.objective-
power. Its second directory, when not tiled, is the thumbnail; later untiled directories are associated images
named by the first word of their description's second line ("label", "macro"). tifffile (hence tiffslide)
reads the same layout, telling the macro by NewSubfileType 9. QuPath and HistoQC read SVS through these.
"""

from __future__ import annotations

HEADER = "Aperio Image Library v12.0.0 (orthanc-wsi-py)"
SUBFILE_LABEL, SUBFILE_MACRO = 1, 9  # NewSubfileType of Aperio's label and macro directories


def _number(value: float) -> str:
    return f"{value:.6g}"


def base_description(width: int, height: int, tile: tuple[int, int], mpp: float | None,
                     objective_power: float | None, quality: int, title: str) -> str:
    """The first directory's description: geometry line, then "|key = value" fields."""
    fields = [f"{width}x{height} [0,0 {width}x{height}] ({tile[0]}x{tile[1]}) JPEG/RGB Q={quality}"]
    if objective_power:
        fields.append(f"AppMag = {_number(objective_power)}")
    if mpp:
        fields.append(f"MPP = {_number(mpp)}")
    fields.append(f"Title = {title}")
    return f"{HEADER}\r\n" + "|".join(fields)


def level_description(width: int, height: int, tile: tuple[int, int], level_size: tuple[int, int],
                      quality: int) -> str:
    return (f"{HEADER}\r\n{width}x{height} [0,0 {width}x{height}] ({tile[0]}x{tile[1]}) "
            f"-> {level_size[0]}x{level_size[1]} JPEG/RGB Q={quality}")


def associated_description(name: str, width: int, height: int) -> str:
    """Description of an untiled directory: OpenSlide names the image by the second line's first word."""
    return f"{HEADER}\r\n{name} {width}x{height}"


def resolution_per_cm(spacing_mm: tuple[float, float] | None) -> tuple[float, float] | None:
    """TIFF XResolution/YResolution in pixels per centimetre from a pixel spacing (x, y) in mm."""
    if not spacing_mm or spacing_mm[0] <= 0 or spacing_mm[1] <= 0:
        return None
    return 10.0 / spacing_mm[0], 10.0 / spacing_mm[1]
