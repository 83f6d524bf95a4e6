"""Whole-slide imaging and IIIF for Orthanc: everything but the entry script is plain Python."""
