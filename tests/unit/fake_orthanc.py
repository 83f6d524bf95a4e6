"""An in-memory stand-in for the adapter: the same two calls, answering the Orthanc REST paths we use."""

from __future__ import annotations

import io
import json
import uuid

import imagecodecs
import numpy as np
from wsi.adapter import describe_resource
from wsi.errors import NotFound

JPEG = "1.2.840.10008.1.2.4.50"
EXPLICIT = "1.2.840.10008.1.2.1"


def orthanc_id() -> str:
    hexa = uuid.uuid4().hex + uuid.uuid4().hex
    return "-".join(hexa[i * 8:(i + 1) * 8] for i in range(5))


class FakeOrthanc:
    def __init__(self) -> None:
        self.paths: dict[str, bytes] = {}
        self.calls: list[str] = []

    def get_bytes(self, uri: str) -> bytes:
        self.calls.append(uri)
        if uri not in self.paths:
            raise NotFound(f"{describe_resource(uri)} not found")  # as the real adapter words it
        return self.paths[uri]

    def get_json(self, uri: str):
        return json.loads(self.get_bytes(uri))

    def put_json(self, uri: str, value) -> None:
        self.paths[uri] = json.dumps(value).encode()

    def list_instances(self, series_id: str, ids: list[str]) -> None:
        """What GET /series/{id}/instances answers: each instance's JSON, its stored file's uuid included."""
        self.put_json(f"/series/{series_id}/instances",
                      [{"ID": i, "Type": "Instance", "ParentSeries": series_id,
                        "FileUuid": self.get_json(f"/instances/{i}")["FileUuid"]} for i in ids])

    def store_again(self, series_id: str, instance_id: str, frames: list[bytes], *, elsewhere: bool = False) -> None:
        """The instance deleted and stored again with the same UIDs (same id) but other pixels.

        elsewhere: through another Orthanc sharing the database. This one's `/frames` then keep answering the
        old pixels (Orthanc 1.10's parsed-DICOM cache, per process); only the stored file is new.
        """
        if not elsewhere:
            for n, frame in enumerate(frames):
                self.paths[f"/instances/{instance_id}/frames/{n}/raw"] = frame
        syntax = self.get_json(f"/instances/{instance_id}/header?short")["0002,0010"]
        self.paths[f"/instances/{instance_id}/attachments/dicom/data"] = dicom_file(syntax, frames)
        self.put_json(f"/instances/{instance_id}", {"ID": instance_id, "ParentSeries": series_id,
                                                    "FileUuid": str(uuid.uuid4())})
        self.list_instances(series_id, [i["ID"] for i in self.get_json(f"/series/{series_id}/instances")])

    def restarted(self) -> FakeOrthanc:
        """This Orthanc started again over the same database and storage: its frames are read from the stored
        files (no parsed copy survives a restart)."""
        import pydicom
        from pydicom.encaps import generate_frames

        fresh = FakeOrthanc()
        fresh.paths = dict(self.paths)
        for uri, data in self.paths.items():
            if uri.endswith("/attachments/dicom/data"):
                ds = pydicom.dcmread(io.BytesIO(data), force=True)
                count = int(ds.NumberOfFrames)
                frames = list(generate_frames(ds.PixelData, number_of_frames=count)) \
                    if ds.file_meta.TransferSyntaxUID.is_encapsulated else \
                    [ds.PixelData[i * len(ds.PixelData) // count:(i + 1) * len(ds.PixelData) // count]
                     for i in range(count)]
                for n, frame in enumerate(frames):
                    fresh.paths[uri.replace("attachments/dicom/data", f"frames/{n}/raw")] = frame
        return fresh

    def add_series(self, instances: list[tuple[dict, str, list[bytes]]], sop_class: str, study_tags=None,
                   series_tags=None) -> tuple[str, list[str]]:
        """instances: (short tags, transfer syntax, frames); returns (series id, instance ids)."""
        series_id, study_id = orthanc_id(), orthanc_id()
        ids = []
        for tags, syntax, frames in instances:
            instance_id = orthanc_id()
            ids.append(instance_id)
            self.put_json(f"/instances/{instance_id}/tags?short", tags)
            self.put_json(f"/instances/{instance_id}/header?short", {"0002,0010": syntax})
            self.paths[f"/instances/{instance_id}/metadata/SopClassUid"] = sop_class.encode()
            self.paths[f"/instances/{instance_id}/metadata"] = b"[]"
            self.put_json(f"/instances/{instance_id}", {"ID": instance_id, "ParentSeries": series_id,
                                                        "FileUuid": str(uuid.uuid4())})
            for n, frame in enumerate(frames):
                self.paths[f"/instances/{instance_id}/frames/{n}/raw"] = frame
        self.put_json(f"/series/{series_id}", {"Instances": ids, "ParentStudy": study_id,
                                                "MainDicomTags": series_tags or {"Modality": "SM"}})
        self.list_instances(series_id, ids)
        self.paths[f"/series/{series_id}/metadata"] = b"[]"
        self.put_json(f"/studies/{study_id}", {"MainDicomTags": study_tags or {"StudyDate": "20260101"},
                                               "PatientMainDicomTags": {"PatientID": "P1"}})
        self.put_json(f"/series/{series_id}/ordered-slices",
                      {"Slices": [f"/instances/{i}/frames/{n}" for i, (_, _, f) in zip(ids, instances, strict=True)
                                  for n in range(len(f))]})
        return series_id, ids


def dicom_file(syntax: str, frames: list[bytes]) -> bytes:
    """A stored file holding `frames` (encapsulated for a compressed syntax), as Orthanc's storage has it."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.NumberOfFrames, ds.BitsAllocated = len(frames), 8
    ds.PixelData = encapsulate(frames) if pydicom.uid.UID(syntax).is_encapsulated else b"".join(frames)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def wsi_tags(width, height, tile=256, frames=None, flavor="VOLUME", organization="TILED_FULL", positions=None,
             paths=("1",), planes=1, spacing=(0.0005, 0.0005), offset=None, lab=None):
    tiles = -(-width // tile) * -(-height // tile)
    tags = {
        "0008,0016": "1.2.840.10008.5.1.4.1.1.77.1.6",
        "0028,0010": str(tile), "0028,0011": str(tile),
        "0028,0002": "3", "0028,0004": "YBR_FULL_422", "0028,0100": "8", "0028,0101": "8",
        "0048,0006": str(width), "0048,0007": str(height),
        "0028,0008": str(frames if frames is not None else tiles * len(paths) * planes),
        "0048,0105": [{"0048,0106": p, "0048,0107": f"path {p}"} for p in paths],
        "0048,0303": str(planes),
        "5200,9229": [{"0028,9110": [{"0028,0030": f"{spacing[1]}\\{spacing[0]}", "0018,0088": "0.001"}]}],
        "0048,0001": str(width * spacing[0]), "0048,0002": str(height * spacing[1]),
    }
    if flavor is not None:
        tags["0008,0008"] = f"ORIGINAL\\PRIMARY\\{flavor}\\NONE"
    if organization:
        tags["0020,9311"] = organization
    if positions is not None:
        tags["5200,9230"] = [
            {"0048,021a": [{"0048,021e": str(c), "0048,021f": str(r), "0040,074a": str(z)}],
             "0048,0207": [{"0048,0106": p}]} for c, r, z, p in positions]
        tags["0028,0008"] = str(len(positions))
    if offset is not None:
        tags["0020,9228"] = str(offset)
    if lab is not None:
        tags["0048,0015"] = "\\".join(str(v) for v in lab)
    return tags


def tile_frames(image: np.ndarray, tile: int, syntax: str, background=255) -> list[bytes]:
    """Frames of a TILED_FULL level, edge tiles padded to full size as scanners write them."""
    height, width = image.shape[:2]
    frames = []
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            block = np.full((tile, tile, 3), background, np.uint8)
            part = image[y:y + tile, x:x + tile]
            block[: part.shape[0], : part.shape[1]] = part
            frames.append(bytes(imagecodecs.jpeg8_encode(block, level=95)) if syntax == JPEG else block.tobytes())
    return frames
