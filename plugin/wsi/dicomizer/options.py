"""The DICOM-izer's options, from query parameters or a JSON object, validated with messages naming each."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import json_input
from ..errors import BadRequest

COMPRESSIONS = ("keep", "jpeg", "jpeg2000", "none")
MAX_TILE_PX = 4096


@dataclass(frozen=True)
class DicomizeOptions:
    compression: str = "keep"  # keep the source's JPEG tiles; anything else is encoded as `jpeg` (quality)
    quality: int = 90
    tile_size_px: int | None = None  # None: the source's tile size when copying, else 512
    levels: int | None = None  # total pyramid levels; None: down to a level that fits in one tile
    max_size_mb: float = 10.0  # largest instance written
    mpp: float | None = None  # microns per pixel at the finest level, over the source's
    objective_power: float | None = None
    icc: str = "source"  # "source" (the image's own, else sRGB), "srgb" or "none"
    dataset: dict = field(default_factory=dict)  # DICOM tags by keyword (or "gggg,eeee"), over ours
    patient: dict = field(default_factory=dict)  # shortcuts: PatientID, PatientName, StudyDescription, ...


_SHORTCUTS = {"patient-id": "PatientID", "patient-name": "PatientName", "study-description": "StudyDescription",
              "series-description": "SeriesDescription", "accession-number": "AccessionNumber",
              "study-instance-uid": "StudyInstanceUID", "specimen-id": "ContainerIdentifier"}
KNOWN = {"compression", "quality", "tile-size", "levels", "max-size", "mpp", "objective-power", "icc", "dataset",
         *_SHORTCUTS}


def parse_options(values: dict) -> DicomizeOptions:
    """Options given as strings (query) or JSON values; unknown names and bad values are 400."""
    unknown = sorted(set(values) - KNOWN)
    if unknown:
        raise BadRequest(f"unknown option (known: {', '.join(sorted(KNOWN))})", unknown[0][:40])
    compression = str(values.get("compression", "keep"))
    if compression not in COMPRESSIONS:
        raise BadRequest(f"must be one of {', '.join(COMPRESSIONS)}", "compression")
    icc = str(values.get("icc", "source"))
    if icc not in ("source", "srgb", "none"):
        raise BadRequest("must be source, srgb or none", "icc")
    tile = _number(values, "tile-size", int, 16, MAX_TILE_PX)
    if tile is not None and tile % 16:
        raise BadRequest("must be a multiple of 16", "tile-size")
    dataset = values.get("dataset", {})
    if isinstance(dataset, str):
        try:
            dataset = json_input.loads(dataset, "dataset")
        except ValueError:
            raise BadRequest("not valid JSON", "dataset") from None
    if not isinstance(dataset, dict):
        raise BadRequest("must be a JSON object of DICOM keywords and values", "dataset")
    patient = {_SHORTCUTS[name]: str(values[name])[:64] for name in _SHORTCUTS if name in values}
    return DicomizeOptions(
        compression=compression,
        quality=_number(values, "quality", int, 1, 100) or 90,
        tile_size_px=tile,
        levels=_number(values, "levels", int, 1, 32),
        max_size_mb=_number(values, "max-size", float, 1, 2048) or 10.0,
        mpp=_number(values, "mpp", float, 0.001, 1000),
        objective_power=_number(values, "objective-power", float, 0.1, 1000),
        icc=icc, dataset=dataset, patient=patient)


def _number(values: dict, name: str, kind: type, low: float, high: float):
    if name not in values or values[name] in ("", None):
        return None
    raw = values[name]
    try:
        number = kind(raw) if not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not low <= number <= high or number != number:
        raise BadRequest(f"must be a number from {low:g} to {high:g}", name)
    return number
