"""DICOM whole-slide series -> pyramidal tiled BigTIFF in the Aperio SVS layout (issue 11, part 2).

  options      the export's choices (optical path, focal plane, JPEG quality), validated from a query
  jpeg_tiles   how a stored JPEG tile is coded (colour, subsampling) and re-encoding in a level's coding
  aperio       the ImageDescription strings and resolution values OpenSlide, QuPath and HistoQC read
  slide        a series' levels, tiles and associated images, read through the SlideService
  tiff_writer  writing it all with tifffile, tile by tile, to a seekable file
  spool        the file written to a temporary folder and handed out in chunks (memory bounded)
  route        GET /wsi/export/{series}
  http_reader  Orthanc's REST API over HTTP, for the command (python -m wsi.export)
"""
