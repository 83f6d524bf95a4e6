"""Load the wheels' native libraries so that they bind to themselves, not to the copies Orthanc loaded.

Why: Orthanc 1.10 is linked with Debian's libjpeg.so.62, libpng16, libtiff, zlib, libzstd, liblzma and
DCMTK's IJG libraries (libijg8/12/16.so.17), all loaded before the Python plugin. An extension module
opened with the interpreter's default flags looks its undefined symbols up in that global scope first,
so with LD_DEBUG=bindings inside Orthanc (docs/codec.md) imagecodecs' `_jpeg8` and its bundled
libjpeg-turbo called DCMTK's *unversioned* `jpeg12_read_scanlines` / `jpeg16_read_scanlines`
(a versioned reference accepts an unversioned definition): Orthanc segfaulted on every 12-bit or
lossless 16-bit JPEG frame. Pillow's `_imaging` and its bundled libtiff, libjpeg and zstd likewise ran
against Debian's copies. RTLD_DEEPBIND puts each library's own dependency scope ahead of the global one,
so every wheel uses the libraries it was built and tested with.

Call `bind_to_own_libraries()` in the entry script before anything imports numpy, imagecodecs or PIL.
The flags stay set for the rest of the process, so extension modules imported later (Pillow's format
plugins, numpy submodules) deep-bind too; the codec modules we use are imported at once, so a broken
wheel fails at start-up rather than on the first tile.
"""

from __future__ import annotations

import importlib
import os
import sys

# imagecodecs imports a codec's extension module on first use of one of its functions.
IMAGECODECS_FUNCTIONS = (
    "jpeg8_decode", "jpeg8_encode", "jpegsof3_decode", "jpegls_decode", "jpeg2k_decode", "jpeg2k_encode",
    "jpegxl_decode", "dicomrle_decode", "png_encode", "webp_encode",
)
# Pillow's extension modules we reach: the core (resize, TIFF, GIF, PDF, JPEG 2000), WebP, colour management.
PIL_MODULES = ("PIL.Image", "PIL._imaging", "PIL._webp", "PIL._imagingcms")


def deep_bind_flags() -> int | None:
    """dlopen flags that make a library prefer its own dependencies; None where the libc has no DEEPBIND."""
    deepbind = getattr(os, "RTLD_DEEPBIND", None)
    return None if deepbind is None else os.RTLD_NOW | deepbind


def bind_to_own_libraries() -> list[str]:
    """Set the flags for every later import and import the native modules we use; returns the extension
    modules loaded.

    Must run before numpy, imagecodecs or PIL is imported: a module already loaded keeps its bindings.
    """
    flags = deep_bind_flags()
    if flags is None:  # not glibc (e.g. musl): no global-scope clash of this kind to avoid
        return []
    early = [name for name in ("numpy", "imagecodecs", "PIL._imaging") if name in sys.modules]
    if early:
        raise RuntimeError(f"{', '.join(early)} imported before native.bind_to_own_libraries()")
    sys.setdlopenflags(flags)
    importlib.import_module("numpy")
    codecs = importlib.import_module("imagecodecs")
    for name in IMAGECODECS_FUNCTIONS:
        getattr(codecs, name)
    for name in PIL_MODULES:
        importlib.import_module(name)
    return sorted(name for name, module in list(sys.modules.items())
                  if name.startswith(("numpy", "imagecodecs", "PIL"))
                  and str(getattr(module, "__file__", "")).endswith(".so"))
