"""Annotation objects other tools write, built in the tests: highdicom Bulk Simple Annotations (2D and 3D) and
a Comprehensive 3D SR with TID 1500 planar regions as Slim writes them (highdicom.sr, the library Slim's
Python side and its test data use)."""

from __future__ import annotations

import io

import numpy as np


def _source(slide_file: bytes):
    from pydicom import dcmread

    return dcmread(io.BytesIO(slide_file), stop_before_pixels=True)


def _bytes(dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def highdicom_ann(slide_file: bytes, shapes: dict[str, list[np.ndarray]], coordinate_type: str = "2D",
                  label: str = "nuclei") -> bytes:
    """A Bulk Simple Annotations file by highdicom alone: one group per graphic type, coordinates as given
    (pixels for 2D, slide mm for 3D)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    source = _source(slide_file)
    groups = []
    for number, (kind, data) in enumerate(shapes.items(), 1):
        groups.append(hd.ann.AnnotationGroup(
            number=number, uid=hd.UID(), label=f"{label} {kind.lower()}",
            annotated_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            annotated_property_type=codes.SCT.Neoplasm, graphic_type=kind,
            graphic_data=[np.asarray(d, dtype=np.float64 if coordinate_type == "3D" else np.float32) for d in data],
            algorithm_type="MANUAL"))
    ann = hd.ann.MicroscopyBulkSimpleAnnotations(
        source_images=[source], annotation_coordinate_type=coordinate_type, annotation_groups=groups,
        series_instance_uid=hd.UID(), series_number=50, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="highdicom test", manufacturer_model_name="test", software_versions="1",
        device_serial_number="1", content_creator_name="Other^Tool")
    return _bytes(ann)


def slim_sr(slide_file: bytes, polygon_mm: np.ndarray, area_mm2: float) -> bytes:
    """A Comprehensive 3D SR: one planar ROI (TID 1410) with a SCOORD3D polygon in slide coordinates,
    a tracking identifier, a finding and an area, in an imaging measurement report (TID 1500)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    source = _source(slide_file)
    region = hd.sr.ImageRegion3D(graphic_type=hd.sr.GraphicTypeValues3D.POLYGON, graphic_data=polygon_mm,
                                 frame_of_reference_uid=source.FrameOfReferenceUID)
    area = hd.sr.Measurement(name=codes.SCT.Area, value=area_mm2, unit=codes.UCUM.SquareMillimeter)
    group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="ROI #1"),
        referenced_region=region, finding_type=codes.SCT.Neoplasm, measurements=[area])
    observer = hd.sr.ObserverContext(observer_type=codes.cid270.Person,
                                     observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                                         name="Slim^User"))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion, imaging_measurements=[group])
    sr = hd.sr.Comprehensive3DSR(
        evidence=[source], content=report[0], series_instance_uid=hd.UID(), series_number=60,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="Slim-like test", series_description="Slim")
    return _bytes(sr)
