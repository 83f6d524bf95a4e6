"""The Debian 13 root whatever the host (scripts/benchmark.py --platform debian13, scripts/test-on-debian13):
tests/support/other_platform.py with its platform fixed to Debian 13. Tests use other_platform's `OTHER`."""

from __future__ import annotations

from collections.abc import Callable

from tests.support.other_platform import DEBIAN13, REPO, PlatformRoot, RootUnavailable
from tests.support.other_platform import built_root as _built_root
from tests.support.other_platform import ensure_root as _ensure_root

__all__ = ["REPO", "Debian13Root", "RootUnavailable", "built_root", "ensure_root"]
Debian13Root = PlatformRoot


def built_root() -> PlatformRoot | None:
    return _built_root(DEBIAN13)


def ensure_root(say: Callable[[str], None] = print) -> PlatformRoot:
    return _ensure_root(say, DEBIAN13)
