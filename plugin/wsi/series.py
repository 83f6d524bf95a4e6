"""DICOM series model of a whole slide: levels, optical paths, focal planes, associated images (pure).

Input is what Orthanc gives: per instance its id, its tags in `?short` JSON form ("gggg,eeee" keys,
multi-values joined by backslashes, sequences as lists of dicts) and its transfer syntax.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .colour import lab_to_rgb8
from .frames import FrameIndex, FullBlock
from .pyramid import Level, Pyramid, consistent_levels

log = logging.getLogger(__name__)

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
ASSOCIATED_KINDS = {"LABEL": "label", "OVERVIEW": "overview", "THUMBNAIL": "thumbnail"}

# Tags used below, by name, so the parsing reads like the standard.
IMAGE_TYPE = "0008,0008"
SOP_INSTANCE_UID = "0008,0018"
ROWS, COLUMNS = "0028,0010", "0028,0011"
NUMBER_OF_FRAMES = "0028,0008"
TOTAL_COLUMNS, TOTAL_ROWS = "0048,0006", "0048,0007"
FOCAL_PLANES = "0048,0303"
OPTICAL_PATH_SEQ, OPTICAL_PATH_ID, OPTICAL_PATH_DESC = "0048,0105", "0048,0106", "0048,0107"
OPTICAL_PATH_ID_SEQ = "0048,0207"
ICC_PROFILE = "0028,2000"
SHARED_FG, PER_FRAME_FG = "5200,9229", "5200,9230"
PIXEL_MEASURES, PIXEL_SPACING, SPACING_BETWEEN_SLICES = "0028,9110", "0028,0030", "0018,0088"
PLANE_POSITION_SLIDE = "0048,021a"
COLUMN_POSITION, ROW_POSITION, Z_OFFSET = "0048,021e", "0048,021f", "0040,074a"
DIMENSION_ORGANIZATION = "0020,9311"
CONCATENATION_OFFSET = "0020,9228"
ABSENT_PIXEL_LAB = "0048,0015"
IMAGED_WIDTH, IMAGED_HEIGHT = "0048,0001", "0048,0002"
OBJECTIVE_POWER = "0048,0112"


@dataclass(frozen=True)
class InstanceRecord:
    instance_id: str
    tags: dict
    transfer_syntax: str
    # What Orthanc stores for this instance now (its FileUuid): the id hashes the UIDs, so a series
    # deleted and stored again with other pixels keeps its ids; the stored file does not.
    version: str = ""


Revision = tuple[tuple[str, str], ...]  # sorted (instance id, version): what a series holds, content included


@dataclass(frozen=True)
class OpticalPath:
    identifier: str
    description: str = ""
    icc_source: tuple[str, int] | None = None  # (instance id, item index in OpticalPathSequence)


@dataclass
class LevelModel:
    level: Level
    frames: FrameIndex
    optical_path: str | None = None  # set for associated images: the path their frames are keyed by


@dataclass
class SeriesModel:
    series_id: str
    instance_ids: tuple[str, ...]  # sorted
    levels: list[LevelModel]
    optical_paths: list[OpticalPath]
    focal_planes_um: list[float]
    associated: dict[str, LevelModel] = field(default_factory=dict)
    transfer_syntaxes: dict[str, str] = field(default_factory=dict)  # instance id -> UID
    pixel_tags: dict[str, dict] = field(default_factory=dict)  # instance id -> tags, per-frame groups dropped
    background_rgb: tuple[int, int, int] = (255, 255, 255)
    imaged_volume_mm: tuple[float, float] | None = None
    objective_power: float | None = None
    versions: dict[str, str] = field(default_factory=dict)  # instance id -> version (FileUuid)
    revision: Revision = ()  # part of every cache key of answers built from the whole series

    @property
    def pyramid(self) -> Pyramid:
        return Pyramid(tuple(lm.level for lm in self.levels), self.background_rgb, self.imaged_volume_mm)

    @property
    def default_optical_path(self) -> str:
        return self.optical_paths[0].identifier

    @property
    def default_focal_plane(self) -> int:
        """The plane nearest the middle of the stack (scanners focus there)."""
        if not self.focal_planes_um:
            return 0
        middle = (self.focal_planes_um[0] + self.focal_planes_um[-1]) / 2
        return min(range(len(self.focal_planes_um)), key=lambda i: abs(self.focal_planes_um[i] - middle))

    @property
    def icc_source(self) -> tuple[str, int] | None:
        return self.optical_paths[0].icc_source if self.optical_paths else None


# ---- small readers of the short JSON form ---------------------------------------------------------

def _text(tags: dict, tag: str, default: str = "") -> str:
    value = tags.get(tag)
    return value.strip() if isinstance(value, str) else default


def _int(tags: dict, tag: str, default: int = 0) -> int:
    try:
        return int(float(_text(tags, tag).split("\\")[0]))
    except ValueError:
        return default


def _floats(tags: dict, tag: str) -> list[float]:
    try:
        return [float(v) for v in _text(tags, tag).split("\\") if v.strip()]
    except ValueError:
        return []


def _item(tags: dict, seq: str) -> dict:
    value = tags.get(seq)
    return value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else {}


def _items(tags: dict, seq: str) -> list[dict]:
    value = tags.get(seq)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def image_flavor(tags: dict) -> str:
    """Value 3 of Image Type; absent (OrthancWSIDicomizer 1.1 writes none) counts as VOLUME."""
    values = _text(tags, IMAGE_TYPE).upper().split("\\")
    return values[2].strip() if len(values) >= 3 else "VOLUME"


def _close(a: tuple[float, float], b: tuple[float, float], tolerance: float = 0.02) -> bool:
    return all(abs(u - v) <= tolerance * max(abs(u), abs(v)) for u, v in zip(a, b, strict=True))


def pixel_spacing_mm(tags: dict) -> tuple[float, float] | None:
    """(x, y) spacing in mm: PixelSpacing is (row spacing, column spacing) = (y, x).

    OrthancWSIDicomizer 1.1 divides the imaged volume's height by the columns and its width by the
    rows on non-square slides; when PixelSpacing is exactly that mix-up, the imaged volume wins.
    """
    spacing = _floats(_item(_item(tags, SHARED_FG), PIXEL_MEASURES), PIXEL_SPACING)
    if len(spacing) < 2:
        spacing = _floats(_item(_item(tags, PER_FRAME_FG), PIXEL_MEASURES), PIXEL_SPACING)
    stated = (spacing[1], spacing[0]) if len(spacing) >= 2 and spacing[0] > 0 and spacing[1] > 0 else None
    width, height = _floats(tags, IMAGED_WIDTH), _floats(tags, IMAGED_HEIGHT)
    columns, rows = _int(tags, TOTAL_COLUMNS), _int(tags, TOTAL_ROWS)
    if not (width and height and columns and rows and width[0] > 0 and height[0] > 0):
        return stated
    from_volume = (width[0] / columns, height[0] / rows)
    mixed_up = (height[0] / columns, width[0] / rows)
    if stated is None or (_close(stated, mixed_up) and not _close(stated, from_volume)):
        return from_volume
    return stated


def _optical_paths(tags: dict, instance_id: str) -> list[OpticalPath]:
    paths = []
    for index, item in enumerate(_items(tags, OPTICAL_PATH_SEQ)):
        icc = (instance_id, index) if ICC_PROFILE in item else None
        paths.append(OpticalPath(_text(item, OPTICAL_PATH_ID) or str(index), _text(item, OPTICAL_PATH_DESC), icc))
    return paths or [OpticalPath("0")]


def _frame_path(frame: dict, shared: dict, default: str) -> str:
    return _text(_item(frame, OPTICAL_PATH_ID_SEQ), OPTICAL_PATH_ID) or \
        _text(_item(shared, OPTICAL_PATH_ID_SEQ), OPTICAL_PATH_ID) or default


def _full_z_values(tags: dict) -> list[float]:
    """Focal planes of a TILED_FULL instance, in frame order (µm)."""
    count = max(1, _int(tags, FOCAL_PLANES, 1))
    shared = _item(tags, SHARED_FG)
    base = (_floats(_item(shared, PLANE_POSITION_SLIDE), Z_OFFSET) or [0.0])[0]
    step_mm = (_floats(_item(shared, PIXEL_MEASURES), SPACING_BETWEEN_SLICES) or [0.0])[0]
    return [base + i * (step_mm * 1000 if step_mm else 1.0) for i in range(count)] if count > 1 else [base]


def _sparse_positions(tags: dict) -> list[tuple[int, int, float, str]] | None:
    """Per-frame (column, row, z µm, optical path) or None when frames do not all carry a position."""
    frames = _items(tags, PER_FRAME_FG)
    if len(frames) != _int(tags, NUMBER_OF_FRAMES, 1) or not frames:
        return None
    shared = _item(tags, SHARED_FG)
    default_path = _optical_paths(tags, "")[0].identifier
    out = []
    for frame in frames:
        position = _item(frame, PLANE_POSITION_SLIDE)
        column, row = _int(position, COLUMN_POSITION, -1), _int(position, ROW_POSITION, -1)
        if column < 1 or row < 1:
            return None
        z = (_floats(position, Z_OFFSET) or [0.0])[0]
        out.append((column, row, z, _frame_path(frame, shared, default_path)))
    return out


def _level_of(tags: dict) -> Level:
    columns, rows = _int(tags, COLUMNS), _int(tags, ROWS)
    return Level(_int(tags, TOTAL_COLUMNS, columns), _int(tags, TOTAL_ROWS, rows), columns, rows,
                 pixel_spacing_mm(tags))


def _plane_index(z: float, planes: list[float]) -> int:
    return min(range(len(planes)), key=lambda i: abs(planes[i] - z))


def _add_instance(model: LevelModel, record: InstanceRecord, planes: list[float]) -> None:
    tags, level = record.tags, model.level
    positions = _sparse_positions(tags)
    if positions is not None and _text(tags, DIMENSION_ORGANIZATION).upper() != "TILED_FULL":
        for frame, (column, row, z, path) in enumerate(positions):
            key = ((column - 1) // level.tile_width, (row - 1) // level.tile_height, path, _plane_index(z, planes))
            model.frames.add_sparse(key, (record.instance_id, frame))
        return
    paths = tuple(p.identifier for p in _optical_paths(tags, record.instance_id))
    block = FullBlock(record.instance_id, _int(tags, CONCATENATION_OFFSET), _int(tags, NUMBER_OF_FRAMES, 1),
                      level.tiles_x, level.tiles_y, paths,
                      tuple(_plane_index(z, planes) for z in _full_z_values(tags)))
    model.frames.blocks.append(block)


def _focal_planes(records: list[InstanceRecord]) -> list[float]:
    values: set[float] = set()
    for record in records:
        positions = _sparse_positions(record.tags)
        zs = [z for _, _, z, _ in positions] if positions is not None else _full_z_values(record.tags)
        values.update(round(z, 4) for z in zs)
    return sorted(values) or [0.0]


def _background(tags: dict) -> tuple[int, int, int]:
    lab = _floats(tags, ABSENT_PIXEL_LAB)
    return lab_to_rgb8(lab) if len(lab) == 3 else (255, 255, 255)


def _strip_frames(tags: dict) -> dict:
    return {k: v for k, v in tags.items() if k != PER_FRAME_FG}


def build_series_model(series_id: str, records: list[InstanceRecord]) -> SeriesModel | None:
    """The whole-slide model of a series, or None when it has no pyramid level."""
    volumes = [r for r in records if image_flavor(r.tags) == "VOLUME" and _int(r.tags, COLUMNS) > 0]
    if not volumes:
        return None
    planes = _focal_planes(volumes)
    by_size: dict[tuple[int, int], LevelModel] = {}
    for record in sorted(volumes, key=lambda r: (_int(r.tags, CONCATENATION_OFFSET), r.instance_id)):
        level = _level_of(record.tags)
        model = by_size.setdefault((level.width, level.height), LevelModel(level, FrameIndex()))
        if (model.level.tile_width, model.level.tile_height) != (level.tile_width, level.tile_height):
            log.warning("instance %s: tile size differs from its level's, ignored", record.instance_id)
            continue
        _add_instance(model, record, planes)
    ordered = sorted(by_size.values(), key=lambda m: (-m.level.width, -m.level.height))
    kept = consistent_levels([m.level for m in ordered])
    levels = [m for m in ordered if m.level in kept]
    base = max(volumes, key=lambda r: _int(r.tags, TOTAL_COLUMNS))
    paths = _series_optical_paths(volumes, base)
    associated = _associated(records)
    width = _floats(base.tags, IMAGED_WIDTH)
    height = _floats(base.tags, IMAGED_HEIGHT)
    return SeriesModel(
        series_id=series_id,
        instance_ids=tuple(sorted(r.instance_id for r in records)),
        levels=levels,
        optical_paths=paths,
        focal_planes_um=planes,
        associated=associated,
        transfer_syntaxes={r.instance_id: r.transfer_syntax for r in records},
        pixel_tags={r.instance_id: _strip_frames(r.tags) for r in records},
        background_rgb=_background(base.tags),
        imaged_volume_mm=(width[0], height[0]) if width and height else None,
        objective_power=(_floats(_item(base.tags, OPTICAL_PATH_SEQ), OBJECTIVE_POWER) or [None])[0],
        versions={r.instance_id: r.version for r in records},
        revision=tuple(sorted((r.instance_id, r.version) for r in records)),
    )


def _series_optical_paths(volumes: list[InstanceRecord], base: InstanceRecord) -> list[OpticalPath]:
    """Every optical path of the levels, those of the finest level (and its ICC profile) first."""
    found: dict[str, OpticalPath] = {}
    for record in [base, *volumes]:
        for path in _optical_paths(record.tags, record.instance_id):
            found.setdefault(path.identifier, path)
    return list(found.values())


def _associated(records: list[InstanceRecord]) -> dict[str, LevelModel]:
    out: dict[str, LevelModel] = {}
    for record in records:
        kind = ASSOCIATED_KINDS.get(image_flavor(record.tags))
        if kind and kind not in out and _int(record.tags, COLUMNS) > 0:
            path = _optical_paths(record.tags, record.instance_id)[0].identifier
            model = LevelModel(_level_of(record.tags), FrameIndex(), path)
            _add_instance(model, record, _focal_planes([record]))
            out[kind] = model
    return out
