"""A real Orthanc for tests: free loopback port, temporary storage, our plugin and/or the C++ one."""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Protocol

PYTHON_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPython.so"
CPP_WSI_PLUGIN = "/usr/share/orthanc/plugins/libOrthancWSI.so"
START_TIMEOUT_S = 30


def _die_with_parent() -> None:
    """In the child before exec: Linux sends SIGTERM to Orthanc if the test process dies without cleaning up."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def require_orthanc() -> None:
    """Skip the calling test (or fixture) where Orthanc is not installed (scripts/setup.sh installs it)."""
    import pytest

    if shutil.which("Orthanc") is None:
        pytest.skip("Orthanc is not installed (scripts/setup.sh installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Root(Protocol):
    """Another system's root to run Orthanc in (tests/support/other_platform.py), sharing the host's network."""

    config: dict  # added to every configuration (e.g. an option only that platform's Orthanc has)

    def command(self, argv: list[str], *, paths: list[Path]) -> list[str]: ...


class OrthancServer:
    """Context manager: `with OrthancServer(script, storage_dir=tmp) as server: server.get(...)`.

    `root` runs Orthanc inside another system's root (e.g. Debian 13's); `default_root` is the root of servers
    made without one (None: the host's Orthanc), which a test module may set for everything it starts.
    """

    default_root: ClassVar[Root | None] = None

    def __init__(self, script: Path | None, *, load_cpp_wsi: bool = False, extra_config: dict | None = None,
                 storage_dir: Path | None = None, port: int | None = None, root: Root | None = None) -> None:
        self.root = root or OrthancServer.default_root
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Without a folder from the caller, a temporary one is made and removed at stop.
        self._own_directory = storage_dir is None
        self.directory = Path(storage_dir) if storage_dir else Path(tempfile.mkdtemp(prefix="orthanc-test-"))
        self.log_path = self.directory / "orthanc.log"
        plugins = ([PYTHON_PLUGIN] if script else []) + ([CPP_WSI_PLUGIN] if load_cpp_wsi else [])
        self.config = {
            "Name": "test", "HttpPort": self.port, "DicomServerEnabled": False, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "HttpCompressionEnabled": False, "KeepAlive": True,
            "StorageDirectory": str(self.directory / "db"), "IndexDirectory": str(self.directory / "db"),
            "Plugins": plugins, **({"PythonScript": str(script)} if script else {}),
            **(self.root.config if self.root else {}), **(extra_config or {}),
        }
        self._process: subprocess.Popen | None = None
        self.returncode: int | None = None  # Orthanc's exit status once stopped (0: clean shutdown)

    def __enter__(self) -> OrthancServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config_path = self.directory / "orthanc.json"
        config_path.write_text(json.dumps(self.config, indent=2))
        command = ["Orthanc", str(config_path)]
        if self.root:
            script = self.config.get("PythonScript")
            command = self.root.command(command, paths=[self.directory, *([Path(script).parent] if script else [])])
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                             preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Orthanc exited at start:\n{self.log_tail()}")
            try:
                if self.get("/system")[0] in (200, 401):  # 401: up, with AuthenticationEnabled
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        if self._process:
            self.returncode = self._process.returncode
        self._process = None
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The Orthanc process's id while it runs (e.g. to read /proc/<pid>/status)."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def poll(self) -> int | None:
        """None while Orthanc runs, else its exit status (negative: killed by that signal)."""
        return self._process.poll() if self._process else self.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            # Header names lower-cased: HTTP says they are case-insensitive.
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path, headers=headers)

    def get_json(self, path: str) -> object:
        status, _, body = self.get(path)
        if status != 200:
            raise AssertionError(f"GET {path}: {status} {body[:300]!r}")
        return json.loads(body)

    def upload(self, paths: list[Path]) -> list[str]:
        """POST each file to /instances; returns the instance ids."""
        ids = []
        for path in paths:
            status, _, body = self.request("POST", "/instances", Path(path).read_bytes(),
                                           {"Content-Type": "application/dicom"})
            if status != 200:
                raise AssertionError(f"upload {path}: {status} {body[:300]!r}")
            ids.append(json.loads(body)["ID"])
        return ids

    def upload_series(self, paths: list[Path]) -> str:
        """Upload the files of one series; returns the Orthanc series id."""
        ids = self.upload(paths)
        series = {self.get_json(f"/instances/{instance}")["ParentSeries"] for instance in ids}
        if len(series) != 1:
            raise AssertionError(f"{len(paths)} files gave {len(series)} series")
        return series.pop()


def script_server(directory: Path, script: str) -> OrthancServer:
    """An Orthanc (not started: use `with`) whose PythonScript is `script`, e.g. a probe of the adapter, with its
    storage in `directory`."""
    path = directory / "probe.py"
    path.write_text(script)
    return OrthancServer(path, storage_dir=directory / "orthanc")
