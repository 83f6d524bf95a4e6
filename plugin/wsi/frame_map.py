"""The frame map: which tiles of a slide a browser may fetch straight from Orthanc, and where they are (pure).

Published with the pyramid (`/wsi/pyramids/{series}`, key "FrameMap"), so a viewer fetches such tiles from
Orthanc's own `/instances/{id}/frames/{n}/raw` (served by Orthanc's C++ code, no Python on the way) and only
the others through `/wsi/tiles`. An instance is listed only when `/wsi/tiles` would send its frames exactly as
stored: the same bytes, so the same pixels (see `DirectVerdict`). The verdict is made from the tags alone, so the
pyramid request reads no frame (Orthanc would parse each whole instance for it); the JPEG header of each
instance's first frame is checked afterwards, when the FrameWarmer reads that frame anyway
(FrameSource.check_first_frame), and an instance whose header fails leaves the maps built from then on. A viewer
that got such an instance earlier falls back to `/wsi/tiles` when the browser cannot decode the frame
(webassets/direct-frames.js). Per level, as DICOM stores them:

  "Full":   TILED_FULL instances (and parts of concatenations) as arithmetic, one entry per instance:
            frame = ((path * planes + plane) * TilesY + ty) * TilesX + tx - Offset, within [0, Count)
  "Sparse": TILED_SPARSE frames as a table of [tx, ty, optical path index, focal plane, instance index, frame]

Optical paths are indices into the pyramid's "OpticalPaths", focal planes indices into its "FocalPlanes".
"""

from __future__ import annotations

from collections.abc import Callable

from .frames import FullBlock
from .series import SeriesModel

# Whether the frames of an instance go out as stored (same bytes as /wsi/tiles would send), without reading a frame.
DirectVerdict = Callable[[str], bool]


def frame_map(model: SeriesModel, direct: DirectVerdict) -> list[dict]:
    """Per pyramid level (finest first) the frames of instances that `direct` accepts, as described above."""
    path_index = {p.identifier: i for i, p in enumerate(model.optical_paths)}
    verdicts: dict[str, bool] = {}

    def accepted(instance_id: str) -> bool:
        if instance_id not in verdicts:
            verdicts[instance_id] = direct(instance_id)
        return verdicts[instance_id]

    levels = []
    for level_model in model.levels:
        full = [_full_entry(block, path_index) for block in level_model.frames.blocks
                if accepted(block.instance_id) and all(p in path_index for p in block.optical_paths)]
        instances: dict[str, int] = {}
        rows = []
        for (tx, ty, path, plane), (instance_id, frame) in level_model.frames.sparse.items():
            if path in path_index and accepted(instance_id):
                rows.append([tx, ty, path_index[path], plane, instances.setdefault(instance_id, len(instances)),
                             frame])
        entry: dict = {"Full": full}
        if rows:
            entry["Sparse"] = {"Instances": list(instances), "Tiles": rows}
        levels.append(entry)
    return levels


def _full_entry(block: FullBlock, path_index: dict[str, int]) -> dict:
    return {"Instance": block.instance_id, "Offset": block.offset, "Count": block.count,
            "TilesX": block.tiles_x, "TilesY": block.tiles_y,
            "OpticalPaths": [path_index[p] for p in block.optical_paths],
            "FocalPlanes": list(block.focal_planes)}
