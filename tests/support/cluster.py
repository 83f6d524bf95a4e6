"""A real scale-out cluster for tests: PostgreSQL, N Orthanc replicas over one index and one storage, nginx.

Everything runs from Debian's packages but as our own processes: PostgreSQL from its own `initdb` data folder
on its own 127.0.0.1 port and socket folder (as the `postgres` user when we are root), each Orthanc through
`OrthancServer` with `orthanc-postgresql` (index in PostgreSQL, `Lock: false`, its own
`DatabaseServerIdentifier`, the shared storage folder) and our plugin, and nginx with its own configuration
and pid file (round robin, upstream keep-alive). The system's postgresql and nginx services are never
touched. `Cluster.stop` stops what it started, in reverse order, even after a failed start; every child
also gets SIGTERM if the test process dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.support.orthanc_server import OrthancServer, _die_with_parent, free_port


def _postgresql_bin() -> Path:
    """The newest installed server's programs (Debian 12 ships PostgreSQL 15, Debian 13 ships 17)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _postgresql_bin()
POSTGRESQL_INDEX_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"
PYTHON_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPython.so"
NGINX = "/usr/sbin/nginx"
START_TIMEOUT_S = 30
REPLICA_NAMES = "abcdefgh"


def missing_packages() -> list[str]:
    """Debian packages the cluster needs and this machine lacks (scripts/setup.sh test installs them)."""
    needs = {"postgresql": PG_BIN / "initdb", "orthanc-postgresql": Path(POSTGRESQL_INDEX_PLUGIN),
             "nginx-light": Path(NGINX), "orthanc": Path("/usr/sbin/Orthanc")}
    return [package for package, path in needs.items() if not path.exists()]


def _wait_until(ready, what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start:\n{_tail(log)}")
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {START_TIMEOUT_S} s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop_process(process: subprocess.Popen | None, stop_signal: int) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(stop_signal)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class PostgreSQL:
    """One PostgreSQL server of our own: `initdb` folder, port and socket folder on 127.0.0.1, trust auth."""

    def __init__(self) -> None:
        self.port = free_port()
        # Its own folder under /tmp (not pytest's 0700 root-owned one): the postgres user must reach it.
        self.directory = Path(tempfile.mkdtemp(prefix="wsi-pg-"))
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgresql.log"
        self.database = "orthanc"
        self._process: subprocess.Popen | None = None
        account = pwd.getpwnam("postgres") if os.geteuid() == 0 else pwd.getpwuid(os.geteuid())
        self.user = account.pw_name
        self._ids = (account.pw_uid, account.pw_gid)

    def _run_as(self) -> dict:
        return {"user": self._ids[0], "group": self._ids[1], "extra_groups": []} if os.geteuid() == 0 else {}

    def start(self) -> None:
        os.chown(self.directory, *self._ids)
        subprocess.run([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8",
                        "--no-sync"], check=True, capture_output=True, cwd=self.directory, **self._run_as())
        with self.log_path.open("wb") as log:
            os.chown(self.log_path, *self._ids)
            self._process = subprocess.Popen(
                [str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.directory),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.directory, preexec_fn=_die_with_parent,
                **self._run_as())
        _wait_until(self._ready, "PostgreSQL", self._process, self.log_path)
        subprocess.run([str(PG_BIN / "createdb"), "-h", str(self.directory), "-p", str(self.port), "-U", self.user,
                        self.database], check=True, capture_output=True, cwd=self.directory, **self._run_as())

    def _ready(self) -> bool:
        return subprocess.run([str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                              check=False).returncode == 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.poll() is None else None

    def stop(self) -> None:
        _stop_process(self._process, signal.SIGINT)  # "fast" shutdown: disconnects clients, then exits
        self._process = None
        shutil.rmtree(self.directory, ignore_errors=True)


class Nginx:
    """nginx with its own configuration, pid file and temporary folders, in front of `backends` (round robin,
    upstream keep-alive). Not a daemon: its master is our child, stopped with SIGQUIT (graceful)."""

    def __init__(self, backends: list[int], directory: Path, *, keepalive: int = 32, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.directory = directory
        self.backends = backends
        self.keepalive = keepalive
        self.workers = workers
        self.log_path = directory / "error.log"
        self._process: subprocess.Popen | None = None

    def config_text(self) -> str:
        d = self.directory
        servers = "\n".join(f"    server 127.0.0.1:{port} max_fails=0;" for port in self.backends)
        temps = "\n".join(f"  {kind}_temp_path {d}/{kind}_temp;" for kind in
                          ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return f"""daemon off;
worker_processes {self.workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
{temps}
  upstream orthancs {{
{servers}
    keepalive {self.keepalive};
  }}
  server {{
    listen 127.0.0.1:{self.port};
    client_max_body_size 0;
    location / {{
      proxy_pass http://orthancs;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 120s;
      proxy_next_upstream off;
    }}
  }}
}}
"""

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "nginx.conf"
        config.write_text(self.config_text())
        with (self.directory / "stdout.log").open("wb") as log:
            self._process = subprocess.Popen([NGINX, "-e", str(self.log_path), "-p", str(self.directory), "-c",
                                              str(config)], stdout=log, stderr=subprocess.STDOUT,
                                             preexec_fn=_die_with_parent)
        _wait_until(lambda: self.get("/system")[0] == 200, "nginx", self._process, self.log_path)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.poll() is None else None

    def stop(self) -> None:
        _stop_process(self._process, signal.SIGQUIT)
        self._process = None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("GET", path, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def get_json(self, path: str) -> object:
        status, _, body = self.get(path)
        if status != 200:
            raise AssertionError(f"GET {path} through nginx: {status} {body[:300]!r}")
        return json.loads(body)


class Cluster:
    """`with Cluster(script, replicas=2, directory=tmp) as cluster:` then `cluster.replicas[0]`, `cluster.nginx`.

    `plugin_config` is the WholeSlideImaging section of every replica; `extra_config` is added to each
    replica's configuration. Replicas are named "replica-a", "replica-b"... (Orthanc `Name` and
    `DatabaseServerIdentifier`); their storage is `directory/storage`, shared.
    """

    def __init__(self, script: Path | None, directory: Path, *, replicas: int = 2, plugin_config: dict | None = None,
                 extra_config: dict | None = None, nginx_workers: int = 1) -> None:
        self.script = script
        self.directory = Path(directory)
        self.count = replicas
        self.plugin_config = plugin_config or {}
        self.extra_config = extra_config or {}
        self.postgresql: PostgreSQL | None = None
        self.replicas: list[OrthancServer] = []
        self.nginx: Nginx | None = None
        self._nginx_workers = nginx_workers

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def replica_config(self, name: str, nginx_port: int) -> dict:
        pg = self.postgresql
        assert pg is not None
        return {
            "Name": name, "DatabaseServerIdentifier": name,
            "StorageDirectory": str(self.directory / "storage"),
            "Plugins": [POSTGRESQL_INDEX_PLUGIN, *([PYTHON_PLUGIN] if self.script else [])],
            "PostgreSQL": {"EnableIndex": True, "EnableStorage": False, "Host": "127.0.0.1", "Port": pg.port,
                           "Database": pg.database, "Username": pg.user, "Password": "", "EnableSsl": False,
                           "Lock": False},
            # Answers name the proxy: every replica writes the same manifests and info.json.
            "WholeSlideImaging": {"OrthancPublicURL": f"http://127.0.0.1:{nginx_port}/", **self.plugin_config},
            **self.extra_config,
        }

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.postgresql = PostgreSQL()
        self.postgresql.start()
        nginx_port = free_port()
        # One at a time: the first replica creates the schema (with Lock false nothing else serialises that).
        for index in range(self.count):
            name = f"replica-{REPLICA_NAMES[index]}"
            server = OrthancServer(self.script, storage_dir=self.directory / name,
                                   extra_config=self.replica_config(name, nginx_port))
            self.replicas.append(server)
            server.start()
        self.nginx = Nginx([r.port for r in self.replicas], self.directory / "nginx", workers=self._nginx_workers)
        self.nginx.port, self.nginx.url = nginx_port, f"http://127.0.0.1:{nginx_port}"
        self.nginx.start()

    def pids(self) -> list[int]:
        """Every process this cluster started that still runs (nginx's and PostgreSQL's masters)."""
        found = [self.nginx.pid if self.nginx else None, *(r.pid for r in self.replicas),
                 self.postgresql.pid if self.postgresql else None]
        return [pid for pid in found if pid is not None]

    def stop(self) -> None:
        """Stop everything started, last started first; each step runs even when an earlier one failed."""
        errors: list[BaseException] = []
        steps = [self.nginx.stop] if self.nginx else []
        steps += [r.stop for r in reversed(self.replicas)]
        steps += [self.postgresql.stop] if self.postgresql else []
        for step in steps:
            try:
                step()
            except BaseException as error:  # the next step must still run
                errors.append(error)
        if errors:
            raise errors[0]
