"""The one reader of DICOM JSON (pure): Orthanc `?short` and full tags, and DICOMweb JSON, alike.

Orthanc short form: {"0028,0010": "256", "0048,0105": [{...}, ...]} (multi-values joined by backslashes,
binary values null). Orthanc full form: {"0028,0010": {"Name", "Type", "Value"}}. DICOMweb (PS3.18 F.2):
{"00280010": {"vr": "US", "Value": [256]}} with binary values as "InlineBinary" base64. Tags are spelled
"gggg,eeee" here, any case; "gggg-eeee" and "ggggeeee" are read too.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any


def _key(tag: str) -> str:
    return tag.replace(",", "").replace("-", "").upper()


class TagReader:
    """Plain values of one dataset (or sequence item): text, numbers, items; never raises on bad values."""

    def __init__(self, tags: Mapping[str, Any]) -> None:
        self._tags = {_key(k): v for k, v in tags.items()}

    def present(self, tag: str) -> bool:
        """The attribute is there, even when its value is empty or withheld (Orthanc nulls binary values)."""
        return _key(tag) in self._tags

    def raw(self, tag: str) -> Any:
        """The value as stored: str, number, bytes (InlineBinary), a list of item dicts, or None."""
        value = self._tags.get(_key(tag))
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
        if value is None or isinstance(value, list | dict | bytes | bytearray):
            return default
        return str(value).strip()

    def numbers(self, tag: str) -> list[float]:
        """Every value of a numeric (or numeric-text) attribute; [] when absent or any value is not a number."""
        try:
            values = [float(v) for v in self.text(tag).split("\\") if v.strip()]
        except ValueError:
            return []
        return values if all(math.isfinite(v) for v in values) else []

    def integer(self, tag: str, default: int = 0) -> int:
        """The first value as an integer (a decimal value is truncated)."""
        values = self.numbers(tag)
        return int(values[0]) if values else default

    def sequence(self, tag: str) -> list[dict[str, Any]]:
        """The items of a sequence, as raw dicts ([] when absent or not a sequence)."""
        value = self._tags.get(_key(tag))
        if isinstance(value, dict):
            value = value.get("Value")
        return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []

    def items(self, tag: str) -> list[TagReader]:
        return [TagReader(item) for item in self.sequence(tag)]

    def item(self, tag: str) -> TagReader:
        """The first item of a sequence; an empty reader when there is none."""
        items = self.sequence(tag)
        return TagReader(items[0] if items else {})
