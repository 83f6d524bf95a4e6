"""Decode hostile frames placed at the very end of a mapped page, so that any read past a frame faults.

Run as a child process (a fault kills it): `python -m tests.support.page_end_fuzz RANDOM_PER_CODING`.
Prints `CASE <coding> / <variant>` before each decode and `DONE <count>` at the end. Reads past the end
of a frame in an ordinary buffer usually land in mapped memory and go unnoticed; here they fault at once
(this found imagecodecs' RLE decoder, ljpeg and OpenJPH crashing, docs/codec.md).
"""

from __future__ import annotations

import mmap
import random
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "plugin"), str(ROOT)]

from wsi import codec  # noqa: E402
from wsi.errors import WsiError  # noqa: E402

from tests.support import coded_images as ci  # noqa: E402
from tests.support import corrupt  # noqa: E402

PAGE = mmap.PAGESIZE
SEED = 20261203


def at_page_end(data: bytes) -> tuple[mmap.mmap, memoryview]:
    size = max(PAGE, -(-len(data) // PAGE) * PAGE)
    pages = mmap.mmap(-1, size)
    pages[size - len(data):] = data
    return pages, memoryview(pages)[size - len(data):]


def main(random_count: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a huge allocation fails, not the machine
    rng = random.Random(SEED)
    count = 0
    for coding in ci.CODINGS:
        if coding.syntax in (*ci.NATIVE_LE, ci.BIG_ENDIAN):
            continue
        clean = ci.encode_frame(coding, ci.stored_samples(coding, ci.scene(coding, ci.TILE, ci.TILE)))
        fmt = codec.PixelFormat(coding.syntax, ci.label(coding), coding.samples, coding.bits_allocated,
                                coding.bits_stored, 0, coding.planar, ci.TILE, ci.TILE)
        for name, data in corrupt.variants(clean, coding.syntax, rng, random_count).items():
            if not data:
                continue
            print(f"CASE {coding.name} / {name}", flush=True)
            pages, view = at_page_end(data)
            try:
                codec.decode_frame(view, fmt)
            except WsiError:
                pass
            finally:
                view.release()
                pages.close()
            count += 1
    print(f"DONE {count}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
