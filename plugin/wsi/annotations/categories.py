"""The short list of categories the viewer offers, each with the two codes Bulk Simple Annotations need (pure).

A group's Annotated Property Category (CID 7150) and Type (CID 8135) are coded; the viewer shows `label`.
The list is the option `AnnotationCategories` (README); a foreign object's codes are shown by their meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Code = tuple[str, str, str]  # (value, scheme designator, meaning)

_STRUCTURE: Code = ("91723000", "SCT", "Anatomical structure")
_ABNORMAL: Code = ("49755003", "SCT", "Morphologically abnormal structure")


@dataclass(frozen=True)
class Category:
    label: str
    category: Code
    type: Code
    colour: str = "#ffd54a"  # how the viewer draws it

    def as_json(self) -> dict:
        return {"label": self.label, "category": list(self.category), "type": list(self.type),
                "colour": self.colour}


DEFAULT_CATEGORIES: tuple[Category, ...] = (
    Category("Tumour", _ABNORMAL, ("108369006", "SCT", "Neoplasm"), "#e53935"),
    Category("Necrosis", _ABNORMAL, ("6574001", "SCT", "Necrosis"), "#6d4c41"),
    Category("Tissue", _STRUCTURE, ("85756007", "SCT", "Tissue"), "#43a047"),
    Category("Cell", _STRUCTURE, ("4421005", "SCT", "Cell"), "#1e88e5"),
    Category("Nucleus", _STRUCTURE, ("84640000", "SCT", "Nucleus"), "#8e24aa"),
)


class CategoryError(ValueError):
    """The AnnotationCategories option is malformed; the message says where."""


def _code(value: Any, where: str) -> Code:
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, str) and 0 < len(v) <= 64
                                                                 for v in value)):
        raise CategoryError(f"{where}: expected [code value, coding scheme, meaning] (three short strings)")
    return value[0], value[1], value[2]


def parse_categories(value: Any) -> tuple[Category, ...]:
    """The option's list: [{"Label": ..., "Category": [v, s, m], "Type": [v, s, m], "Colour": "#rrggbb"}]."""
    if not isinstance(value, list) or not 1 <= len(value) <= 32:
        raise CategoryError("expected a list of 1 to 32 categories")
    out = []
    for i, item in enumerate(value):
        where = f"item {i}"
        if not isinstance(item, dict) or not isinstance(item.get("Label"), str) or not 0 < len(item["Label"]) <= 64:
            raise CategoryError(f"{where}: expected an object with a Label of 1 to 64 characters")
        colour = item.get("Colour", "#ffd54a")
        if not (isinstance(colour, str) and len(colour) == 7 and colour[0] == "#"
                and all(c in "0123456789abcdefABCDEF" for c in colour[1:])):
            raise CategoryError(f"{where}: Colour must be #rrggbb")
        unknown = set(item) - {"Label", "Category", "Type", "Colour"}
        if unknown:
            raise CategoryError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        out.append(Category(item["Label"], _code(item.get("Category"), f"{where}.Category"),
                            _code(item.get("Type"), f"{where}.Type"), colour))
    if len({c.label for c in out}) != len(out):
        raise CategoryError("labels must differ")
    return tuple(out)


def find_by_label(categories: tuple[Category, ...], label: str) -> Category | None:
    return next((c for c in categories if c.label == label), None)


def find_by_type(categories: tuple[Category, ...], type_code: tuple[str, str]) -> Category | None:
    """The configured category whose Type code (value, scheme) this is."""
    return next((c for c in categories if c.type[:2] == type_code), None)
