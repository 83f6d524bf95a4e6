"""stored_file.py (frames cut from a stored file) and SeriesRepository.replaced (when to read it)."""

from __future__ import annotations

import io

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from wsi.cache import Memo
from wsi.errors import DecodeError, NotFound
from wsi.series_repository import SeriesRepository
from wsi.stored_file import parse_stored_file

from tests.unit.fake_orthanc import FakeOrthanc

JPEG, EXPLICIT, BIG_ENDIAN = "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"


def stored(syntax: str, pixel_data: bytes, frames: int, bits: int = 8, **elements) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.NumberOfFrames, ds.BitsAllocated, ds.Rows, ds.Columns, ds.SamplesPerPixel = frames, bits, 2, 2, 1
    ds.PixelData = pixel_data
    for name, value in elements.items():
        setattr(ds, name, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False, little_endian=syntax != BIG_ENDIAN, implicit_vr=False)
    return out.getvalue()


def test_encapsulated_frames_come_out_as_stored():
    frames = [b"\xff\xd8first\xff\xd9", b"\xff\xd8second!\xff\xd9"]
    got = parse_stored_file(stored(JPEG, encapsulate(frames), 2))
    assert [got.frame(0).rstrip(b"\0"), got.frame(1).rstrip(b"\0")] == frames  # items are padded to even length
    with pytest.raises(NotFound):
        got.frame(2)


def test_native_frames_are_cut_in_little_endian_order():
    little = bytes(range(16))
    assert parse_stored_file(stored(EXPLICIT, little, 2, bits=16)).frames == (little[:8], little[8:])
    # Big endian stored: Orthanc's raw frames are little-endian, so are ours.
    swapped = b"".join(little[i:i + 2][::-1] for i in range(0, 16, 2))
    assert parse_stored_file(stored(BIG_ENDIAN, swapped, 2, bits=16)).frames == (little[:8], little[8:])


def test_content_paths_as_orthanc_names_them():
    path = Dataset()
    path.ICCProfile = b"icc-bytes!"
    data = stored(EXPLICIT, bytes(8), 2, OpticalPathSequence=Sequence([path]))
    got = parse_stored_file(data)
    assert got.content("0048-0105/0/0028-2000") == b"icc-bytes!"
    assert got.content("7fe0-0010/0") == bytes(8)  # native pixel data, whole
    for missing in ("0048-0105/1/0028-2000", "0028-1201", "../etc", "0048-0105/0"):
        with pytest.raises(NotFound):
            got.content(missing)


def test_garbage_is_a_decode_error():
    with pytest.raises(DecodeError):
        parse_stored_file(b"\x00" * 10)


def test_replaced_means_another_file_than_the_first_this_process_read():
    repository = SeriesRepository(FakeOrthanc(), Memo(1 << 20))
    assert not repository.replaced("i", "file-1")  # first read: what this Orthanc may hold parsed
    assert not repository.replaced("i", "file-1")
    assert repository.replaced("i", "file-2")  # stored again elsewhere: this Orthanc may hold file-1
    repository.on_change()  # a change of something else here: still replaced
    assert repository.replaced("i", "file-2")
    repository.on_change(stored_instance="i")  # stored through this Orthanc: its parsed copy is new too
    assert not repository.replaced("i", "file-2")
    assert repository.replaced("i", "file-3")
