"""Test support: synthetic slides, DICOM writers, external producers and a real-Orthanc fixture."""
