"""The other platform's root for tests: the Debian release the host is not, with its own Orthanc.

On a Debian 12 (bookworm) host it is Debian 13 (trixie: Orthanc 1.12.7, orthanc-python 5.0, Python 3.13, C++
WSI plugin 3.2, what a new administrator installs today); on a Debian 13 host it is Debian 12 (Orthanc 1.10.1,
orthanc-python 4.0, Python 3.11, C++ plugin 1.1). The host's /etc/os-release (VERSION_CODENAME) decides.
Either root holds Debian's orthanc, orthanc-python, orthanc-wsi and orthanc-gdcm, and our runtime dependencies
in a virtualenv built with the root's own /usr/bin/python3. It is made once with debootstrap under
tests/.cache/<folder>/ and reused: the base is rebuilt when its recipe (suite, package list, `RECIPE`) changes;
each requirements.txt gets its virtualenv.

Every mount (the root's /proc and /dev, the checkout, /tmp) is made inside a private mount namespace
(`unshare --mount`) of the one process that needs it, Orthanc included: the kernel drops them when that process
ends, however it ends, so nothing is ever left mounted on the host and a half-built root can be deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / "tests" / ".cache"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("orthanc", "orthanc-python", "orthanc-wsi", "orthanc-gdcm", "python3-venv", "ca-certificates")


@dataclass(frozen=True)
class Platform:
    """A Debian release as the tests know it: where its root lives and what its packages are (as measured)."""

    name: str  # "Debian 13"
    suite: str  # its codename, for debootstrap
    folder: str  # the root's folder under tests/.cache
    orthanc: str  # Orthanc's version as /system reports it
    orthanc_python: str  # /plugins/python
    python: str  # the Python orthanc-python embeds (libpython3.X)
    cpp_wsi: str  # the official C++ WSI plugin, /plugins/wsi

    @property
    def streams(self) -> bool:
        """orthanc-python 5.0 added streamed answers (StartStreamAnswer / SendStreamChunk)."""
        return self._python_plugin_at_least(5, 0)

    @property
    def allow_threads(self) -> bool:
        """orthanc-python 4.3 added the option "Python": {"AllowThreads": true}; older ones ignore it."""
        return self._python_plugin_at_least(4, 3)

    def _python_plugin_at_least(self, *version: int) -> bool:
        return tuple(map(int, self.orthanc_python.split("."))) >= version


DEBIAN12 = Platform("Debian 12", "bookworm", "debian12", "1.10.1", "4.0", "3.11", "1.1")
DEBIAN13 = Platform("Debian 13", "trixie", "debian13", "1.12.7", "5.0", "3.13", "3.2")


def host_codename(os_release: Path = Path("/etc/os-release")) -> str | None:
    """VERSION_CODENAME of the host, e.g. "bookworm"; None when the file or the field is missing."""
    try:
        lines = os_release.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "VERSION_CODENAME":
            return value.strip().strip("\"'") or None
    return None


def other_platform(codename: str | None = None) -> Platform:
    """The platform the host is not: Debian 12 on a Debian 13 host, Debian 13 on any other host."""
    return DEBIAN12 if (codename or host_codename()) == DEBIAN13.suite else DEBIAN13


OTHER = other_platform()
# Bump when the build steps change in a way the package list does not show.
RECIPE = 1
# Inside the root: build notes and one virtualenv per requirements.txt (sessions of branches with other
# pins can share the root without rebuilding each other's).
WSI_DIR = "/opt/wsi"
PATH_IN_ROOT = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The host's pip settings and certificate bundle are reused inside the root for building the virtualenv
# (a proxy with its own certificate authority is then trusted there too).
HOST_PIP_CONFIGS = {Path("/etc/pip.conf"): "/etc/pip.conf",  # host file -> path in the root
                    Path.home() / ".config" / "pip" / "pip.conf": "/root/.config/pip/pip.conf"}
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
ROOT_CA_BUNDLE = f"{WSI_DIR}/host-ca-certificates.crt"
# Variables passed to the build steps in the root (apt and pip behind a proxy).
PASSED_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
# Orthanc in the root gets a clean environment, as a service has, except the dynamic linker's diagnostics.
PASSED_TO_ORTHANC = ("LD_DEBUG", "LD_DEBUG_OUTPUT", "WSI_LOG_LEVEL")
BUILD_TIMEOUT_S = 1800
KEPT_VENVS = 3


class RootUnavailable(Exception):
    """The root cannot be built or used here (no network, not root, no debootstrap): the reason, in words."""


@dataclass(frozen=True)
class PlatformRoot:
    """A built root, ready to run commands in: `root.command(["Orthanc", config])` is an argv for Popen."""

    platform: Platform
    path: Path
    venv: str  # inside the root
    packages: dict[str, str]  # Debian package -> version installed in the root
    config: dict = field(default_factory=dict)  # added to the configuration of every Orthanc started in it

    @property
    def name(self) -> str:
        return self.platform.name

    def with_config(self, config: dict) -> PlatformRoot:
        return replace(self, config={**self.config, **config})

    def describe(self) -> str:
        p = self.packages
        return (f"{self.name} root {self.path}: Orthanc {p.get('orthanc', '?')}, orthanc-python "
                f"{p.get('orthanc-python', '?')}, Python {p.get('python3', '?')}, C++ WSI plugin "
                f"{p.get('orthanc-wsi', '?')}")

    def command(self, argv: list[str], *, paths: Iterable[Path] = (), env: dict[str, str] | None = None) -> list[str]:
        """argv running `argv` chrooted, with /proc, /dev, the checkout (read-only), /tmp and `paths` mounted.

        Host paths keep their names inside the root, so configurations written for the host work unchanged.
        The returned command execs down to `argv` itself: its pid, signals and exit status are Orthanc's.
        """
        binds = _bind_plan(paths)
        variables = {"PATH": PATH_IN_ROOT, "LANG": "C.UTF-8", "HOME": "/root", "WSI_VIRTUALENV": self.venv,
                     **{k: os.environ[k] for k in PASSED_TO_ORTHANC if k in os.environ}, **(env or {})}
        return _in_private_namespace(self.path, binds, ["/usr/bin/env", "-i",
                                                        *(f"{k}={v}" for k, v in variables.items()), *argv])


def _in_private_namespace(root: Path, binds: list[tuple[Path, bool]], argv: list[str]) -> list[str]:
    r = shlex.quote(str(root))
    lines = ["set -e", f"mount -t proc proc {r}/proc", f"mount --rbind /dev {r}/dev"]
    for host_path, writable in binds:
        source, target = shlex.quote(str(host_path)), shlex.quote(f"{root}{host_path}")
        lines += [f"mkdir -p {target}", f"mount --bind {source} {target}"]
        if not writable:
            lines.append(f"mount -o remount,bind,ro {target}")
    lines.append(f"exec chroot {r} " + " ".join(shlex.quote(a) for a in argv))
    # No fork: unshare execs the shell, the shell execs chroot, chroot execs the command.
    return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", "\n".join(lines)]


def _bind_plan(paths: Iterable[Path]) -> list[tuple[Path, bool]]:
    """(host path, writable) to mount at the same path, parents first: /tmp (pytest's and tempfile's folders),
    the checkout (read-only, even when it lies in /tmp), and any other path a caller needs."""
    plan: list[tuple[Path, bool]] = [(Path("/tmp"), True), (REPO, False)]
    for path in paths:
        path = Path(path).resolve()
        if not _inside(path, [folder for folder, writable in plan if writable]):
            plan.append((path, True))  # a writable folder inside the read-only checkout gets its own mount
    return sorted(plan, key=lambda bind: len(bind[0].parts))


def _inside(path: Path, folders: list[Path]) -> bool:
    return any(path == folder or folder in path.parents for folder in folders)


# ---- building -------------------------------------------------------------------------------------------------

def _base_digest(platform: Platform) -> str:
    return _digest(json.dumps([RECIPE, platform.suite, MIRROR, sorted(PACKAGES)]).encode())


def _root_dir(platform: Platform) -> Path:
    return CACHE / platform.folder


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _stamp(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def built_root(platform: Platform = OTHER) -> PlatformRoot | None:
    """The root as built, when it is complete and current; None otherwise (nothing is built here)."""
    root_dir = _root_dir(platform)
    requirements = _digest((REPO / "requirements.txt").read_bytes())
    venv = f"{WSI_DIR}/venv-{requirements}"
    if _stamp(root_dir / WSI_DIR.lstrip("/") / "base.stamp") != _base_digest(platform):
        return None
    if not (root_dir / venv.lstrip("/") / "complete").exists():
        return None
    packages = json.loads((root_dir / WSI_DIR.lstrip("/") / "packages.json").read_text())
    return PlatformRoot(platform, root_dir, venv, packages)


def ensure_root(say: Callable[[str], None] = print, platform: Platform = OTHER) -> PlatformRoot:
    """The current root, built or brought up to date first if needed (minutes; `say` reports progress).

    Raises RootUnavailable when it cannot be built here.
    """
    if os.geteuid() != 0:
        raise RootUnavailable("building and entering a chroot needs root")
    for tool in ("debootstrap", "unshare", "chroot"):
        if shutil.which(tool) is None:
            raise RootUnavailable(f"{tool} is missing (`bash scripts/setup.sh test` installs debootstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with _build_lock(platform):
        for stale in CACHE.glob(f"{platform.folder}.*-*"):  # left by an interrupted build
            _remove_tree(stale)
        if _stamp(_root_dir(platform) / WSI_DIR.lstrip("/") / "base.stamp") != _base_digest(platform):
            _build_base(platform, say)
        root = built_root(platform)
        if root is None:
            _build_venv(platform, say)
            root = built_root(platform)
            assert root is not None
    return root


@contextlib.contextmanager
def _build_lock(platform: Platform) -> Iterator[None]:
    """One builder at a time (tests/.cache may be shared by several checkouts); the others wait."""
    with (CACHE / f"{platform.folder}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _log_path(platform: Platform) -> Path:
    return CACHE / f"{platform.folder}-build.log"


def _run(platform: Platform, argv: list[str], what: str) -> None:
    log_path = _log_path(platform)
    with log_path.open("a") as log:
        log.write(f"\n$ {shlex.join(argv)}\n")
        log.flush()
        try:
            done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=BUILD_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as error:
            raise RootUnavailable(f"{what}: no end after {BUILD_TIMEOUT_S} s (see {log_path})") from error
    if done.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise RootUnavailable(f"{what} failed with status {done.returncode} (no network?); "
                              f"end of {log_path}:\n{tail}")


def _in_root(root: Path, argv: list[str]) -> list[str]:
    """A build step in the root: /proc and /dev mounted, the host's proxy settings passed on."""
    variables = {"PATH": PATH_IN_ROOT, "LANG": "C.UTF-8", "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive",
                 **{k: os.environ[k] for k in PASSED_VARIABLES if k in os.environ}}
    return _in_private_namespace(root, [], ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in variables.items()),
                                            *argv])


def _build_base(platform: Platform, say: Callable[[str], None]) -> None:
    """debootstrap + Debian's packages in a fresh folder, renamed into place only when complete."""
    root_dir, tag = _root_dir(platform), platform.folder
    building = CACHE / f"{tag}.building-{os.getpid()}"
    started = time.monotonic()
    say(f"{tag}: building a {platform.name} root in {root_dir} (once; several minutes; "
        f"log: {_log_path(platform)})")
    _log_path(platform).write_text(f"{platform.name} root build, {time.ctime()}\n")
    # debootstrap mounts /proc and /sys in the new root itself: in a private namespace those go with it too.
    _run(platform, ["unshare", "--mount", "--propagation", "private", "--", "debootstrap", "--variant=minbase",
                    platform.suite, str(building), MIRROR], "debootstrap")
    # No package may start a service in the root (an Orthanc on port 8042 nobody would stop).
    policy = building / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    say(f"{tag}: apt-get install {' '.join(PACKAGES)}")
    _run(platform, _in_root(building, ["apt-get", "update", "-q"]), "apt-get update")
    _run(platform, _in_root(building, ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]),
         "apt-get install")
    _run(platform, _in_root(building, ["apt-get", "clean"]), "apt-get clean")
    versions = {}
    for package in (*PACKAGES, "python3"):
        done = subprocess.run(["chroot", str(building), "dpkg-query", "-W", "-f=${Version}", package],
                              capture_output=True, text=True, check=True)
        versions[package] = done.stdout.strip()
    wsi = building / WSI_DIR.lstrip("/")
    wsi.mkdir(parents=True, exist_ok=True)
    (wsi / "packages.json").write_text(json.dumps(versions, indent=2) + "\n")
    (wsi / "base.stamp").write_text(_base_digest(platform) + "\n")
    if root_dir.exists():
        old = CACHE / f"{tag}.old-{os.getpid()}"
        root_dir.rename(old)
        building.rename(root_dir)
        _remove_tree(old)
    else:
        building.rename(root_dir)
    say(f"{tag}: root ready in {time.monotonic() - started:.0f} s: {json.dumps(versions)}")


def _build_venv(platform: Platform, say: Callable[[str], None]) -> None:
    """The plugin's dependencies for the root's Python, from requirements.txt; marked complete at the end."""
    root_dir = _root_dir(platform)
    requirements = (REPO / "requirements.txt").read_bytes()
    venv = f"{WSI_DIR}/venv-{_digest(requirements)}"
    wsi = root_dir / WSI_DIR.lstrip("/")
    started = time.monotonic()
    say(f"{platform.folder}: virtualenv {venv} in the root from requirements.txt")
    shutil.rmtree(root_dir / venv.lstrip("/"), ignore_errors=True)  # an interrupted attempt
    (wsi / "requirements.txt").write_bytes(requirements)
    for config, path_in_root in HOST_PIP_CONFIGS.items():
        if config.exists():
            inside = root_dir / path_in_root.lstrip("/")
            inside.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(config, inside)
    variables = []
    if HOST_CA_BUNDLE.exists():
        shutil.copyfile(HOST_CA_BUNDLE, root_dir / ROOT_CA_BUNDLE.lstrip("/"))
        variables = ["/usr/bin/env", f"PIP_CERT={ROOT_CA_BUNDLE}"]
    _run(platform, _in_root(root_dir, ["/usr/bin/python3", "-m", "venv", venv]), "python3 -m venv")
    _run(platform, _in_root(root_dir, [*variables, f"{venv}/bin/pip", "install", "-q", "--disable-pip-version-check",
                             "-r", f"{WSI_DIR}/requirements.txt"]), "pip install -r requirements.txt")
    (root_dir / venv.lstrip("/") / "complete").write_text(time.ctime() + "\n")
    say(f"{platform.folder}: virtualenv ready in {time.monotonic() - started:.0f} s")
    # Older requirements' virtualenvs: the newest few stay (other checkouts may still use them).
    for old in sorted(wsi.glob("venv-*"), key=lambda path: path.stat().st_mtime, reverse=True)[KEPT_VENVS:]:
        shutil.rmtree(old, ignore_errors=True)


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path` in this process's mount namespace (/proc/self/mountinfo, field 5)."""
    resolved = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as table:
        for line in table:
            point = line.split()[4].encode().decode("unicode_escape")  # octal escapes such as \040
            if point == resolved or point.startswith(resolved + "/"):
                found.append(point)
    return found


def _remove_tree(path: Path) -> None:
    """rm -rf, refusing a tree with anything mounted in it (a bound /dev must never be emptied)."""
    if mounted := _mounts_under(path):
        raise RootUnavailable(f"{path} has mounts {mounted}: unmount them first")
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)
