"""The conversion: an opened slide and options to DICOM instances handed to a sink, level by level."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pydicom.valuerep import DS

from .dataset import SeriesFacts, apply_overrides, new_series, series_dataset
from .encode import JPEG_BASELINE, TileCodec, tile_codec
from .instances import FrameSpool, Sink, encode_instance, write_level
from .levels import LevelPlan, plan_levels, tile_size
from .options import DicomizeOptions
from .pipeline import LevelStage
from .source import Slide

PLACEHOLDER_WIDTH_MM = 15.0  # imaged width assumed when neither the image nor the caller gives a pixel spacing
MAX_ASSOCIATED_SIDE = 8192
_ASSOCIATED_FLAVOR = {"label": "LABEL", "overview": "OVERVIEW", "thumbnail": "THUMBNAIL"}


class Cancelled(Exception):
    """The caller asked the conversion to stop."""


@dataclass
class Progress:
    total_tiles: int
    done_tiles: int = 0
    instances: int = 0
    report: Callable[[Progress], None] = field(default=lambda progress: None)
    cancelled: Callable[[], bool] = field(default=lambda: False)

    def tile(self) -> None:
        self.done_tiles += 1
        if self.done_tiles % 64 == 0:
            self.check()

    def check(self) -> None:
        if self.cancelled():
            raise Cancelled("conversion cancelled")
        self.report(self)


@dataclass(frozen=True)
class Result:
    series_uid: str
    study_uid: str
    levels: list[tuple[int, int]]
    instances: int


def dicomize(slide: Slide, options: DicomizeOptions, sink: Sink, *,
             report: Callable[[Progress], None] | None = None, cancelled: Callable[[], bool] | None = None,
             spool_dir: str | None = None) -> Result:
    """Write the slide's pyramid and associated images; raises Cancelled when asked to stop."""
    tile = tile_size(slide, options)
    plans = plan_levels(slide, options, tile)
    codec = tile_codec(options.compression, options.quality)
    facts = new_series(options.patient.get("StudyInstanceUID") or options.dataset.get("StudyInstanceUID"))
    series = series_dataset(facts, _icc(slide, options), options.objective_power or slide.objective_power)
    apply_overrides(series, options.patient)
    apply_overrides(series, options.dataset)
    mpp = (options.mpp, options.mpp) if options.mpp else slide.mpp
    base_spacing_mm = ((mpp[0] / 1000, mpp[1] / 1000) if mpp else
                       (PLACEHOLDER_WIDTH_MM / plans[0].width_px,) * 2)
    progress = Progress(sum(p.tiles(tile) for p in plans), report=report or (lambda p: None),
                        cancelled=cancelled or (lambda: False))
    max_bytes = int(options.max_size_mb * (1 << 20))
    writer = _LevelWriter(series, facts, plans, tile, codec, base_spacing_mm, max_bytes, sink, progress)
    with tempfile.TemporaryDirectory(prefix="wsi-dicomize-", dir=spool_dir) as directory:
        writer.write_all(directory)
    for number, (kind, pixels) in enumerate(sorted(slide.associated.items()), 100):
        progress.check()
        sink(_associated(series, kind, pixels, codec, base_spacing_mm, plans[0], number), kind)
        progress.instances += 1
    progress.report(progress)
    return Result(facts.series_uid, series.StudyInstanceUID, [(p.width_px, p.height_px) for p in plans],
                  progress.instances)


def _icc(slide: Slide, options: DicomizeOptions) -> bytes | None:
    if options.icc == "none":
        return None
    if options.icc == "source" and slide.icc_profile:
        return slide.icc_profile
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


class _LevelWriter:
    def __init__(self, series: Dataset, facts: SeriesFacts, plans: list[LevelPlan], tile: tuple[int, int],
                 codec: TileCodec, base_spacing_mm: tuple[float, float], max_bytes: int, sink: Sink,
                 progress: Progress) -> None:
        self.series, self.facts, self.plans, self.tile, self.codec = series, facts, plans, tile, codec
        self.base_spacing_mm, self.max_bytes, self.sink, self.progress = base_spacing_mm, max_bytes, sink, progress
        self.dimension_uid = generate_uid()

    def write_all(self, directory: str) -> None:
        sources = [i for i, p in enumerate(self.plans) if not p.generated]
        generated = [i for i, p in enumerate(self.plans) if p.generated]
        spools = {i: FrameSpool(directory) for i in range(len(self.plans))}
        try:
            for i in sources:
                plan = self.plans[i]
                last = i == sources[-1]
                if plan.copy:
                    self._copy(plan, spools[i])
                if not plan.copy or (last and generated):
                    self._encode(i, spools, generated if last else [])
                self._flush(i, spools[i])
                if last:
                    for j in generated:
                        self._flush(j, spools[j])
        finally:
            for spool in spools.values():
                spool.close()

    def _copy(self, plan: LevelPlan, spool: FrameSpool) -> None:
        across, down = -(-plan.width_px // self.tile[0]), -(-plan.height_px // self.tile[1])
        for row in range(down):
            self.progress.check()
            for column in range(across):
                spool.add(plan.source.jpeg_tile(column, row))
                self.progress.tile()

    def _encode(self, index: int, spools: dict[int, FrameSpool], generated: list[int]) -> None:
        """Decode the source level in bands; encode it (unless copied) and every generated level below it."""
        stage = None
        for j in reversed(generated):
            stage = LevelStage(self.plans[j].width_px, self.tile, spools[j], self.codec.encode, stage,
                               self.progress.tile)
        plan = self.plans[index]
        top = LevelStage(plan.width_px, self.tile, None if plan.copy else spools[index], self.codec.encode, stage,
                         self.progress.tile)
        for band in plan.source.bands():
            self.progress.check()
            top.receive(np.asarray(band))
        top.finish()

    def _flush(self, index: int, spool: FrameSpool) -> None:
        plan = self.plans[index]
        syntax = JPEG_BASELINE if plan.copy else self.codec.transfer_syntax
        photometric = plan.source.jpeg_tiles().photometric if plan.copy else self.codec.photometric
        ds = self._level_dataset(index, plan, photometric, lossy=plan.copy or self.codec.lossy)
        ds.NumberOfFrames = len(spool.sizes)  # for the ratio; each part sets its own count
        lossy_ratio(ds, sum(spool.sizes))
        del ds.NumberOfFrames
        self.progress.instances += write_level(ds, spool, syntax, self.max_bytes, self.sink, f"level {index}")

    def _level_dataset(self, index: int, plan: LevelPlan, photometric: str, lossy: bool) -> Dataset:
        ds = copy.deepcopy(self.series)  # update() would share elements: a change would reach every instance
        flavor = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"] if index == 0 else \
            ["DERIVED", "PRIMARY", "VOLUME", "RESAMPLED"]
        base = self.plans[0]
        spacing = (self.base_spacing_mm[0] * base.width_px / plan.width_px,
                   self.base_spacing_mm[1] * base.height_px / plan.height_px)
        _image(ds, flavor, plan.width_px, plan.height_px, self.tile, photometric, lossy, self.codec)
        ds.ImagedVolumeWidth = DS(base.width_px * self.base_spacing_mm[0], auto_format=True)
        ds.ImagedVolumeHeight = DS(base.height_px * self.base_spacing_mm[1], auto_format=True)
        ds.ImagedVolumeDepth = DS(0.001, auto_format=True)
        ds.InstanceNumber = index + 1
        _tiled_full(ds, self.dimension_uid)
        ds.SharedFunctionalGroupsSequence = Sequence([_shared_groups(flavor, spacing)])
        return ds


def _image(ds: Dataset, flavor: list[str], width: int, height: int, tile: tuple[int, int], photometric: str,
           lossy: bool, codec: TileCodec) -> None:
    ds.ImageType = flavor
    ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows = width, height
    ds.Columns, ds.Rows = tile
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, photometric, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    origin = Dataset()
    origin.XOffsetInSlideCoordinateSystem, origin.YOffsetInSlideCoordinateSystem = DS(0), DS(0)
    ds.TotalPixelMatrixOriginSequence = Sequence([origin])
    ds.LossyImageCompression = "01" if lossy else "00"
    if lossy:
        ds.LossyImageCompressionMethod = "ISO_10918_1"


def _tiled_full(ds: Dataset, dimension_uid: str) -> None:
    ds.DimensionOrganizationType = "TILED_FULL"
    ds.TotalPixelMatrixFocalPlanes = 1
    organization = Dataset()
    organization.DimensionOrganizationUID = dimension_uid
    ds.DimensionOrganizationSequence = Sequence([organization])
    ds.DimensionIndexSequence = Sequence([_dimension(dimension_uid, 0x0048021E, "Column"),
                                          _dimension(dimension_uid, 0x0048021F, "Row")])


def lossy_ratio(ds: Dataset, compressed_bytes: int) -> None:
    """LossyImageCompressionRatio (1C when lossy): decoded size over stored size."""
    if ds.LossyImageCompression == "01" and compressed_bytes:
        frames = int(ds.get("NumberOfFrames", 1))
        decoded = ds.Rows * ds.Columns * 3 * frames
        ds.LossyImageCompressionRatio = DS(decoded / compressed_bytes, auto_format=True)


def _dimension(uid: str, pointer: int, axis: str) -> Dataset:
    item = Dataset()
    item.DimensionOrganizationUID = uid
    item.DimensionIndexPointer = pointer
    item.FunctionalGroupPointer = 0x0048021A  # PlanePositionSlideSequence
    item.DimensionDescriptionLabel = f"{axis} position"
    return item


def _shared_groups(flavor: list[str], spacing_mm: tuple[float, float]) -> Dataset:
    measures = Dataset()
    # PixelSpacing is (between rows, between columns): y first.
    measures.PixelSpacing = [DS(spacing_mm[1], auto_format=True), DS(spacing_mm[0], auto_format=True)]
    measures.SliceThickness = DS(0.001, auto_format=True)
    frame_type = Dataset()
    frame_type.FrameType = flavor
    path = Dataset()
    path.OpticalPathIdentifier = "1"
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.WholeSlideMicroscopyImageFrameTypeSequence = Sequence([frame_type])
    shared.OpticalPathIdentificationSequence = Sequence([path])
    return shared


def _associated(series: Dataset, kind: str, pixels: np.ndarray, codec: TileCodec,
                base_spacing_mm: tuple[float, float], base: LevelPlan, number: int) -> bytes:
    """A one-frame LABEL, OVERVIEW or THUMBNAIL instance."""
    if max(pixels.shape[:2]) > MAX_ASSOCIATED_SIDE:
        from PIL import Image

        image = Image.fromarray(pixels)
        image.thumbnail((MAX_ASSOCIATED_SIDE, MAX_ASSOCIATED_SIDE))
        pixels = np.asarray(image)
    height, width = pixels.shape[:2]
    flavor = _ASSOCIATED_FLAVOR[kind]
    ds = copy.deepcopy(series)
    image_type = ["DERIVED", "PRIMARY", flavor, "RESAMPLED"] if flavor == "THUMBNAIL" else \
        ["ORIGINAL", "PRIMARY", flavor, "NONE"]
    _image(ds, image_type, width, height, (width, height), codec.photometric, codec.lossy, codec)
    if flavor in ("LABEL", "OVERVIEW"):  # a macro photograph shows the label too
        ds.SpecimenLabelInImage, ds.BurnedInAnnotation = "YES", "YES"
    if flavor == "LABEL":
        ds.BarcodeValue, ds.LabelText = "", ""  # Slide Label module: type 2
    ds.InstanceNumber = number
    _tiled_full(ds, generate_uid())
    # The imaged area of a thumbnail is the slide's; a label or overview camera's is not known: its pixel
    # spacing is a placeholder of the same physical width.
    spacing = (base_spacing_mm[0] * base.width_px / width, base_spacing_mm[1] * base.height_px / height)
    if flavor == "THUMBNAIL":
        ds.ImagedVolumeWidth = DS(base.width_px * base_spacing_mm[0], auto_format=True)
        ds.ImagedVolumeHeight = DS(base.height_px * base_spacing_mm[1], auto_format=True)
        ds.ImagedVolumeDepth = DS(0.001, auto_format=True)
    ds.SharedFunctionalGroupsSequence = Sequence([_shared_groups(image_type, spacing)])
    frame = codec.encode(np.ascontiguousarray(pixels))
    lossy_ratio(ds, len(frame))
    return encode_instance(ds, [frame], codec.transfer_syntax)
