"""Which root the tests build: the Debian release the host is not (tests/support/other_platform.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import other_platform
from tests.support.other_platform import DEBIAN12, DEBIAN13, host_codename


@pytest.mark.parametrize(("text", "codename"), [
    ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n', "bookworm"),
    ('VERSION_CODENAME="trixie"\nID=debian\n', "trixie"),
    ("ID=arch\n", None),
    ("VERSION_CODENAME=\n", None),
])
def test_host_codename_reads_os_release(tmp_path: Path, text: str, codename: str | None) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text(text)
    assert host_codename(os_release) == codename


def test_a_missing_os_release_is_no_codename(tmp_path: Path) -> None:
    assert host_codename(tmp_path / "absent") is None


@pytest.mark.parametrize(("host", "other"), [("bookworm", DEBIAN13), ("trixie", DEBIAN12), ("noble", DEBIAN13)])
def test_the_other_platform_is_the_release_the_host_is_not(host: str, other) -> None:
    assert other_platform.other_platform(host) is other


def test_each_root_has_its_own_folder_and_recipe() -> None:
    """tests/.cache/debian13 was built before the choice existed: its folder keeps its name (CI cache)."""
    assert (DEBIAN13.folder, DEBIAN13.suite, DEBIAN12.folder, DEBIAN12.suite) == (
        "debian13", "trixie", "debian12", "bookworm")
    assert other_platform._base_digest(DEBIAN13) != other_platform._base_digest(DEBIAN12)


def test_what_the_python_plugin_can_do() -> None:
    assert (DEBIAN13.streams, DEBIAN13.allow_threads) == (True, True)
    assert (DEBIAN12.streams, DEBIAN12.allow_threads) == (False, False)
