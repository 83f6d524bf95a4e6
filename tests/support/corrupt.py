"""Hostile versions of valid frames, seeded: cut, bit-flipped, zero-length, garbage, lying headers."""

from __future__ import annotations

import random
import struct

_SOF_MARKERS = {*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC} | {0xF7}  # JPEG SOFn and JPEG-LS SOF55


def _jpeg_sof_offset(data: bytes) -> int | None:
    """Offset of the SOF/SOF55 segment's length field."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in _SOF_MARKERS:
            return pos + 2
        if marker == 0xDA:
            return None
        pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    return None


def patch_jpeg_sof(data: bytes, *, width: int | None = None, height: int | None = None,
                   precision: int | None = None, components: int | None = None) -> bytes:
    """The JPEG or JPEG-LS stream with its frame header rewritten (the rest left as it was)."""
    at = _jpeg_sof_offset(data)
    if at is None:
        raise ValueError("no SOF segment")
    out = bytearray(data)
    old_precision, old_height, old_width, old_count = struct.unpack_from(">BHHB", out, at + 2)
    struct.pack_into(">BHHB", out, at + 2, old_precision if precision is None else precision,
                     old_height if height is None else height, old_width if width is None else width,
                     old_count if components is None else components)
    return bytes(out)


def patch_j2k_siz(data: bytes, *, width: int | None = None, height: int | None = None,
                  components: int | None = None, bits: int | None = None) -> bytes:
    """The JPEG 2000 / HTJ2K codestream with its SIZ segment rewritten."""
    at = data.find(b"\xff\x4f\xff\x51")
    if at < 0:
        raise ValueError("no SIZ segment")
    out = bytearray(data)
    siz = at + 4
    if width is not None:
        struct.pack_into(">I", out, siz + 4, width + struct.unpack_from(">I", out, siz + 12)[0])
    if height is not None:
        struct.pack_into(">I", out, siz + 8, height + struct.unpack_from(">I", out, siz + 16)[0])
    if components is not None:
        struct.pack_into(">H", out, siz + 36, components)
    if bits is not None:
        count = struct.unpack_from(">H", data, siz + 36)[0]
        for index in range(count):
            out[siz + 38 + 3 * index] = (out[siz + 38 + 3 * index] & 0x80) | (bits - 1)
    return bytes(out)


def _jxl_size_header_bits(value: int) -> int:
    """Length in bits of the SizeHeader at the start of `value` (the codestream after its signature)."""
    def read(count: int) -> int:
        nonlocal value, used
        field, value, used = value & ((1 << count) - 1), value >> count, used + count
        return field

    used = 0
    small = read(1)
    sizes = (9, 13, 18, 30)
    read(5) if small else read(sizes[read(2)])
    if read(3) == 0:  # no ratio: an explicit width follows
        read(5) if small else read(sizes[read(2)])
    return used


def patch_jxl_size(data: bytes, width: int, height: int) -> bytes | None:
    """A bare JPEG XL codestream whose SizeHeader claims width x height (the bits after it shift, so the
    rest no longer parses: only the header matters here); None for a container."""
    if data[:2] != b"\xff\x0a":
        return None
    value = int.from_bytes(data[2:], "little")
    old_bits = _jxl_size_header_bits(value)
    # small = 0, ysize - 1 in 30 bits (selector 3), ratio 0, xsize - 1 in 30 bits (selector 3)
    header = 0 | (3 << 1) | ((height - 1) << 3) | (0 << 33) | (3 << 36) | ((width - 1) << 38)
    new_value = ((value >> old_bits) << 68) | header
    return data[:2] + new_value.to_bytes(len(data) + 8, "little")


def flip_bits(data: bytes, rng: random.Random, count: int, start: int = 0) -> bytes:
    """`count` random bits flipped from byte `start` on."""
    out = bytearray(data)
    for _ in range(count):
        position = rng.randrange(min(start, len(out) - 1), len(out))
        out[position] ^= 1 << rng.randrange(8)
    return bytes(out)


def random_mutation(frame: bytes, rng: random.Random) -> bytes:
    """Bits flipped, a random cut, a cut then flips, or a stretch cut out of the middle."""
    kind = rng.randrange(4)
    if kind == 0:
        return flip_bits(frame, rng, rng.choice([1, 2, 8, 64]))
    if kind == 1:
        return frame[: rng.randrange(len(frame))]
    if kind == 2:
        return flip_bits(frame[: rng.randrange(1, len(frame))], rng, 4)
    start, end = sorted(rng.randrange(len(frame)) for _ in range(2))
    return frame[:start] + frame[end:]


def variants(frame: bytes, syntax: str, rng: random.Random, random_count: int = 0) -> dict[str, bytes]:
    """Named hostile versions of one valid frame of `syntax` (a transfer syntax UID), plus
    `random_count` random mutations."""
    out = {
        "empty": b"",
        "one byte": frame[:1],
        "header only": frame[:min(len(frame) - 1, 200)],
        "cut in half": frame[: len(frame) // 2],
        "last byte missing": frame[:-1],
        "garbage": rng.randbytes(len(frame)),
        "zeros": bytes(len(frame)),
        "doubled": frame + frame,
    }
    for index in range(4):
        out[f"{1 << (2 * index)} bits flipped"] = flip_bits(frame, rng, 1 << (2 * index))
    out["header bits flipped"] = flip_bits(frame, rng, 3) if len(frame) < 64 else \
        frame[:2] + flip_bits(frame[2:64], rng, 3) + frame[64:]
    suffix = syntax.rsplit(".", 1)[-1] if syntax.startswith("1.2.840.10008.1.2.4.") else ""
    if suffix in ("50", "51", "57", "70", "80", "81"):
        out["SOF 65000 x 65000"] = patch_jpeg_sof(frame, width=65000, height=65000)
        out["SOF 1 x 1"] = patch_jpeg_sof(frame, width=1, height=1)
        out["SOF height 0"] = patch_jpeg_sof(frame, height=0)
        out["SOF precision 16"] = patch_jpeg_sof(frame, precision=16)
        out["SOF precision 2"] = patch_jpeg_sof(frame, precision=2)
        out["SOF 4 components"] = patch_jpeg_sof(frame, components=4)
        out["SOF 0 components"] = patch_jpeg_sof(frame, components=0)
    if suffix in ("90", "91", "201", "202", "203"):
        out["SIZ 65000 x 65000"] = patch_j2k_siz(frame, width=65000, height=65000)
        out["SIZ 2^32-1 wide"] = patch_j2k_siz(frame, width=0xFFFFFFFF - 1)
        out["SIZ 1 x 1"] = patch_j2k_siz(frame, width=1, height=1)
        out["SIZ 16 bits"] = patch_j2k_siz(frame, bits=16)
        out["SIZ 38 bits"] = patch_j2k_siz(frame, bits=38)
        out["SIZ 4 components"] = patch_j2k_siz(frame, components=4)
        out["SIZ 16384 components"] = patch_j2k_siz(frame, components=16384)
    if syntax == "1.2.840.10008.1.2.5":  # RLE header: segment count and offsets (PS3.5 G.3.1)
        out["RLE 15 segments"] = struct.pack("<I", 15) + frame[4:]
        out["RLE offset past the end"] = frame[:8] + struct.pack("<I", len(frame) + 1000) + frame[12:]
        out["RLE offsets backwards"] = frame[:4] + struct.pack("<I", 64) + struct.pack("<I", 64) + frame[12:]
    for index in range(random_count):
        out[f"random mutation {index}"] = random_mutation(frame, rng)
    if suffix in ("110", "111", "112"):
        patched = patch_jxl_size(frame, 65000, 65000)
        if patched is not None:
            out["size header 65000 x 65000"] = patched
    return out
