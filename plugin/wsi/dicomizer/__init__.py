"""The DICOM-izer: slide images (TIFF, SVS, PNG, JPEG, scanner formats through OpenSlide) to DICOM VL Whole Slide
Microscopy instances. Pure: it reads a file and hands finished instances to a sink; storing them in Orthanc is
the job's business (wsi/dicomize_jobs.py), writing them to a folder the command's (wsi/dicomize.py)."""
