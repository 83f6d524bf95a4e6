"""Annotations of a slide kept as DICOM Microscopy Bulk Simple Annotations (and read from Slim's TID 1500 SRs).

model      annotations as plain values, checked (pure)
geojson    GeoJSON and our JSON <-> model (pure)
measure    lengths, areas, perimeters in micrometres (pure)
categories the short configurable list of categories and their codes (pure)
dicom_out  model -> a Bulk Simple Annotations dataset (highdicom)
dicom_in   Bulk Simple Annotations and Comprehensive 3D SR datasets -> model
store      what the routes ask Orthanc: the slide's source image, its annotation objects, a new instance
routes     /wsi/annotations/...
"""
