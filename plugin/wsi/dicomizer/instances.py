"""One level's frames spooled to disk, then written as one instance or a concatenation under the size limit."""

from __future__ import annotations

import copy
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.filewriter import dcmwrite
from pydicom.sequence import Sequence
from pydicom.uid import UID, generate_uid

from .dataset import WSI_SOP_CLASS
from .encode import EXPLICIT_LITTLE

# (file bytes, description) -> None: stores or writes a finished instance
Sink = Callable[[bytes, str], None]
HEADER_ALLOWANCE = 64 << 10  # attributes and the basic offset table next to the frames, per instance


@dataclass
class FrameSpool:
    """Encoded frames in a temporary file (memory stays bounded whatever the level's size)."""

    directory: str

    def __post_init__(self) -> None:
        handle, self.path = tempfile.mkstemp(prefix="frames-", dir=self.directory)
        self._file = os.fdopen(handle, "w+b")
        self.sizes: list[int] = []

    def add(self, frame: bytes) -> None:
        self._file.write(frame)
        self.sizes.append(len(frame))

    def read(self, start: int, stop: int) -> list[bytes]:
        self._file.seek(sum(self.sizes[:start]))
        return [self._file.read(size) for size in self.sizes[start:stop]]

    def close(self) -> None:
        self._file.close()
        os.unlink(self.path)


def split_points(sizes: list[int], max_bytes: int) -> list[tuple[int, int]]:
    """[start, stop) frame ranges, each under max_bytes with its header allowance (one frame at least)."""
    ranges, start, total = [], 0, HEADER_ALLOWANCE
    for index, size in enumerate(sizes):
        padded = size + (size & 1) + 8
        if index > start and total + padded > max_bytes:
            ranges.append((start, index))
            start, total = index, HEADER_ALLOWANCE
        total += padded
    ranges.append((start, len(sizes)))
    return ranges


def write_level(ds: Dataset, spool: FrameSpool, transfer_syntax: str, max_bytes: int, sink: Sink,
                label: str) -> int:
    """Write the spooled frames with the level's dataset; returns the number of instances."""
    parts = split_points(spool.sizes, max_bytes)
    source_uid, concatenation_uid = generate_uid(), generate_uid()
    for number, (start, stop) in enumerate(parts, 1):
        piece = copy.deepcopy(ds)
        if len(parts) > 1:
            # PS3.3 C.7.6.16.2.2: a concatenation; TILED_FULL frames continue at the part's frame offset.
            piece.SOPInstanceUIDOfConcatenationSource = source_uid
            piece.ConcatenationUID = concatenation_uid
            piece.ConcatenationFrameOffsetNumber = start
            piece.InConcatenationNumber = number
            piece.InConcatenationTotalNumber = len(parts)
        sink(encode_instance(piece, spool.read(start, stop), transfer_syntax),
             f"{label}{f' part {number}/{len(parts)}' if len(parts) > 1 else ''}")
    return len(parts)


def encode_instance(ds: Dataset, frames: list[bytes], transfer_syntax: str) -> bytes:
    """A Part 10 file of the dataset with these frames."""
    ds.SOPInstanceUID = generate_uid()
    ds.NumberOfFrames = len(frames)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = WSI_SOP_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    ds.file_meta.ImplementationVersionName = "OWSIPY_1"
    if transfer_syntax == EXPLICIT_LITTLE:
        ds.PixelData = b"".join(frames)
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].VR = "OB"
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def sequence_of(item: Dataset) -> Sequence:
    return Sequence([item])
