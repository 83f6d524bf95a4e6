"""Where a tile lives: (tile column, tile row, optical path, focal plane) -> (instance, 0-based frame).

Two forms, as DICOM has two dimension organisations: TILED_FULL is arithmetic, TILED_SPARSE is a
table built from per-frame plane positions. A missing key is a normal answer (a hole in a sparse
level), not an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TileKey = tuple[int, int, str, int]  # (tx, ty, optical path id, focal plane index)
FrameRef = tuple[str, int]  # (Orthanc instance id, 0-based frame index)


@dataclass(frozen=True)
class FullBlock:
    """A TILED_FULL instance (or one part of a concatenation) holding frames [offset, offset + count)."""

    instance_id: str
    offset: int  # 0-based index of the first frame in the whole (concatenated) frame sequence
    count: int
    tiles_x: int
    tiles_y: int
    optical_paths: tuple[str, ...]  # order of OpticalPathSequence
    focal_planes: tuple[int, ...]  # series focal-plane indices, in frame order

    def lookup(self, key: TileKey) -> FrameRef | None:
        tx, ty, path, plane = key
        if path not in self.optical_paths or plane not in self.focal_planes:
            return None
        # PS3.3 C.8.12.4.1.5: columns vary fastest, then rows, then focal planes, then optical paths.
        index = ((self.optical_paths.index(path) * len(self.focal_planes) + self.focal_planes.index(plane))
                 * self.tiles_y + ty) * self.tiles_x + tx
        if self.offset <= index < self.offset + self.count:
            return self.instance_id, index - self.offset
        return None


@dataclass
class FrameIndex:
    """All frames of one pyramid level, whatever the organisation of its instances."""

    blocks: list[FullBlock] = field(default_factory=list)
    sparse: dict[TileKey, FrameRef] = field(default_factory=dict)

    def lookup(self, key: TileKey) -> FrameRef | None:
        found = self.sparse.get(key)
        if found is not None:
            return found
        for block in self.blocks:
            found = block.lookup(key)
            if found is not None:
                return found
        return None

    def add_sparse(self, key: TileKey, ref: FrameRef) -> None:
        # The first frame written for a position wins, as several instances may overlap.
        self.sparse.setdefault(key, ref)

    def __len__(self) -> int:
        return len(self.sparse) + sum(block.count for block in self.blocks)
