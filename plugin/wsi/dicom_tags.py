"""The one reader of DICOM JSON (pure): Orthanc `?short` and full tags, and DICOMweb JSON, alike.

Orthanc short form: {"0028,0010": "256", "0048,0105": [{...}, ...]} (multi-values joined by backslashes,
binary values null). Orthanc full form: {"0028,0010": {"Name", "Type", "Value"}}. DICOMweb (PS3.18 F.2):
{"00280010": {"vr": "US", "Value": [256]}} with binary values as "InlineBinary" base64. Tags are spelled
"gggg,eeee" here; keys spelt "gggg,eeee", "ggggeeee" or "gggg-eeee", in either case, are found.
"""

from __future__ import annotations

import base64
import functools
import math
from collections.abc import Mapping
from typing import Any

# Tags read in more than one module, by name (the others are named where they are read).
TRANSFER_SYNTAX_UID = "0002,0010"  # file meta information: /instances/{id}/header
ROWS, COLUMNS = "0028,0010", "0028,0011"
NUMBER_OF_FRAMES = "0028,0008"
PHOTOMETRIC_INTERPRETATION = "0028,0004"


@functools.lru_cache(maxsize=1024)
def _spellings(tag: str) -> tuple[str, ...]:
    """The keys a tag may have: Orthanc's "0028,0010" first, then DICOMweb's "00280010", then the rest."""
    plain = tag.replace(",", "").replace("-", "")
    group, element = plain[:4], plain[4:]
    return tuple(dict.fromkeys((
        f"{group},{element}".lower(), plain.upper(), f"{group},{element}".upper(), plain.lower(),
        f"{group}-{element}".lower(), f"{group}-{element}".upper(),
    )))


class TagReader:
    """Plain values of one dataset (or sequence item): text, numbers, items; never raises on bad values."""

    __slots__ = ("_tags",)  # one reader per sequence item: ten thousands for a sparse level

    def __init__(self, tags: Mapping[str, Any]) -> None:
        self._tags = tags  # not copied: a reader is made per sequence item, thousands per sparse slide

    def _get(self, tag: str) -> Any:
        tags = self._tags
        if tag in tags:  # spelt as the caller spells it: the common case, and the cheapest
            return tags[tag]
        for key in _spellings(tag):
            if key in tags:
                return tags[key]
        return None

    def present(self, tag: str) -> bool:
        """The attribute is there, even when its value is empty or withheld (Orthanc nulls binary values)."""
        return any(key in self._tags for key in _spellings(tag))

    def raw(self, tag: str) -> Any:
        """The value as stored: str, number, bytes (InlineBinary), a list of item dicts, or None."""
        value = self._get(tag)
        if type(value) is str:  # the short form, most of the time
            return value
        if isinstance(value, dict):  # Orthanc full format {"Value": ...} or DICOMweb {"vr", "Value"}
            if "InlineBinary" in value:
                return base64.b64decode(value["InlineBinary"])
            value = value.get("Value")
            if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], dict):
                value = value[0]
            elif isinstance(value, list) and all(not isinstance(v, dict) for v in value):
                value = "\\".join(str(v) for v in value)
        return value

    def has(self, tag: str) -> bool:
        return self.raw(tag) is not None

    def text(self, tag: str, default: str = "") -> str:
        """The value as stripped text; `default` when absent, null or a sequence."""
        value = self.raw(tag)
        if type(value) is str:
            return value.strip()
        if value is None or isinstance(value, (list, dict, bytes, bytearray)):
            return default
        return str(value).strip()

    def numbers(self, tag: str) -> list[float]:
        """Every value of a numeric (or numeric-text) attribute; [] when absent or any value is not a number."""
        value = self._get(tag)
        text = value if type(value) is str else self.text(tag)
        if "\\" not in text:  # one value, the common case: no list to split and filter
            try:
                number = float(text)
            except ValueError:
                return []
            return [number] if math.isfinite(number) else []
        try:
            values = [float(v) for v in text.split("\\") if v.strip()]
        except ValueError:
            return []
        return values if all(map(math.isfinite, values)) else []

    def integer(self, tag: str, default: int = 0) -> int:
        """The first value as an integer (a decimal value is truncated)."""
        value = self._get(tag)
        if type(value) is str:  # "257": the short form's common case, read without floats
            try:
                return int(value)
            except ValueError:
                pass
        values = self.numbers(tag)
        return int(values[0]) if values else default

    def without(self, tag: str) -> dict[str, Any]:
        """A copy of the dataset without the attribute, however its key is spelt."""
        spellings = _spellings(tag)
        return {key: value for key, value in self._tags.items() if key not in spellings}

    def sequence(self, tag: str) -> list[dict[str, Any]]:
        """The items of a sequence, as raw dicts ([] when absent or not a sequence)."""
        value = self._get(tag)
        if isinstance(value, dict):
            value = value.get("Value")
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

    def items(self, tag: str) -> list[TagReader]:
        return [TagReader(item) for item in self.sequence(tag)]

    def item(self, tag: str) -> TagReader:
        """The first item of a sequence; an empty reader when there is none."""
        value = self._get(tag)
        if isinstance(value, dict):
            value = value.get("Value")
        return TagReader(value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else {})
