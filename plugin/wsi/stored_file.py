"""StoredFile: an instance's frames and binary elements read from its stored DICOM file itself.

Why: Orthanc 1.10 keeps a parsed copy of each instance per process, keyed by the instance id, and drops it
only in the process that changed the instance. After another Orthanc sharing the database deletes and stores
an instance again under the same UIDs (same id, new stored file), this process's `/frames/{n}/raw` and
`/content/...` keep answering the old pixels, while `/instances/{id}/attachments/dicom/data` is read from
the storage by its new FileUuid (docs/scaleout.md). Such an instance's frames are taken from that file.

The file is parsed with pydicom (imported on first use: a single Orthanc never needs it). Frames come out
as Orthanc's raw frame route gives them: an encapsulated frame's fragments joined, a native frame's bytes in
little-endian order (pydicom inflates a deflated data set on reading).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import DecodeError, NotFound

_CONTENT_PART = re.compile(r"[0-9a-f]{4}-[0-9a-f]{4}|[0-9]+")


@dataclass(frozen=True)
class StoredFile:
    """The parsed file of one stored instance: its frames and its data set (for binary elements)."""

    frames: tuple[bytes, ...]
    dataset: object  # pydicom.Dataset

    def frame(self, index: int) -> bytes:
        if not 0 <= index < len(self.frames):
            raise NotFound(f"frame {index} outside 0..{len(self.frames) - 1}")
        return self.frames[index]

    def content(self, path: str) -> bytes:
        """The value at an Orthanc `/content/` path: tags ("0028-1201") and sequence item indices, alternating;
        "7fe0-0010/0" is the whole native pixel data, as Orthanc 1.10 lists it."""
        parts = path.strip("/").split("/")
        if not parts or not all(_CONTENT_PART.fullmatch(p) for p in parts):
            raise NotFound(f"no element {path[:60]!r}")
        if parts == ["7fe0-0010", "0"]:
            return self.frame_data()
        node = self.dataset
        for position, part in enumerate(parts):
            if position % 2 == 0:  # a tag
                tag = int(part.replace("-", ""), 16)
                if tag not in node:  # type: ignore[operator]
                    raise NotFound(f"no element {part} in the stored file")
                node = node[tag].value  # type: ignore[index]
            else:  # an item of the sequence just read
                items = node
                if not isinstance(items, Sequence) or isinstance(items, bytes | str) or not int(part) < len(items):
                    raise NotFound(f"no item {part} in the stored file's sequence")
                node = items[int(part)]
        if not isinstance(node, bytes | bytearray):
            raise NotFound(f"element {path[:60]!r} is not binary")
        return bytes(node)

    def frame_data(self) -> bytes:
        return b"".join(self.frames)


def parse_stored_file(data: bytes) -> StoredFile:
    """Split a stored DICOM file into its frames; DecodeError when pydicom cannot read it."""
    import pydicom
    from pydicom.encaps import generate_frames

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        count = max(1, int(ds.get("NumberOfFrames", 1) or 1))
        if "PixelData" not in ds:  # Orthanc stored it as an image: anything else is not its file
            raise DecodeError("the stored file has no pixel data")
        pixel_data = ds.PixelData
        if ds.file_meta.TransferSyntaxUID.is_encapsulated:
            frames = tuple(generate_frames(pixel_data, number_of_frames=count))
        else:
            frames = _native_frames(ds, pixel_data, count)
    except (ValueError, TypeError, AttributeError, KeyError, EOFError, pydicom.errors.InvalidDicomError) as error:
        raise DecodeError(f"the stored file cannot be read: {error}") from None
    return StoredFile(frames, ds)


def _native_frames(ds, pixel_data: bytes, count: int) -> tuple[bytes, ...]:
    if not ds.is_little_endian and int(ds.get("BitsAllocated", 8)) > 8:
        # Orthanc's raw frames are little-endian whatever the stored byte order (docs/codec.md).
        import numpy as np

        width = int(ds.BitsAllocated) // 8
        pixel_data = np.frombuffer(pixel_data, f">u{width}").astype(f"<u{width}").tobytes()
    size = len(pixel_data) // count
    return tuple(pixel_data[i * size:(i + 1) * size] for i in range(count))
