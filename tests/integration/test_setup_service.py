"""scripts/setup.sh frees orthanc.json's HttpPort from the Debian orthanc service, and from nothing else.

Debian's own `service orthanc stop` stops every /usr/sbin/Orthanc on the host. These tests never touch the
machine's service: they start two Orthancs of their own, one standing in for the service (its pid file or its
configuration given through the script's WSI_SERVICE_* variables), and check which one the script stops.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.orthanc_server import OrthancServer, require_orthanc

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def orthancs(tmp_path: Path):
    require_orthanc()
    with OrthancServer(None, storage_dir=tmp_path / "service") as service, \
            OrthancServer(None, storage_dir=tmp_path / "other") as other:
        yield service, other


def alive(server: OrthancServer) -> bool:
    process = server._process  # started by this test: its pid is the service's in the script's eyes
    return process is not None and process.poll() is None and server.get("/system")[0] == 200


def free_port(tmp_path: Path, port: int, env: dict[str, str]) -> str:
    """`setup.sh free-port` from a copy of the repository whose orthanc.json asks for `port`."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    (root / "orthanc.json").write_text(json.dumps({"Name": "test", "HttpPort": port}, indent=2))
    result = subprocess.run(["bash", str(root / "scripts" / "setup.sh"), "free-port"], capture_output=True,
                            text=True, timeout=60, env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def init_script_env(tmp_path: Path, service: OrthancServer, with_pid_file: bool) -> dict[str, str]:
    pid_file = tmp_path / "orthanc.pid"
    if with_pid_file:
        pid_file.write_text(f"{service._process.pid}\n")
    return {"WSI_SERVICE_PIDFILE": str(pid_file), "WSI_SERVICE_CONFIG": str(service.directory / "orthanc.json"),
            "WSI_SERVICE_SYSTEMD_DIR": str(tmp_path / "no-systemd")}


@pytest.mark.parametrize("found_by", ["pid file", "configuration folder"])
def test_only_the_service_holding_our_port_is_stopped(orthancs, tmp_path, found_by):
    service, other = orthancs
    env = init_script_env(tmp_path, service, with_pid_file=found_by == "pid file")
    # Our port held by another Orthanc: not the service's, so nobody is stopped (scripts/run then says so).
    assert "stopping" not in free_port(tmp_path, other.port, env)
    assert alive(service) and alive(other)
    # A dry run shows what it would do and does nothing.
    dry = free_port(tmp_path, service.port, {**env, "WSI_SETUP_DRY_RUN": "1"})
    assert f"kill -TERM {service._process.pid}" in dry and alive(service)
    # Our port held by the service: the service alone is stopped.
    output = free_port(tmp_path, service.port, env)
    assert f"service (pid {service._process.pid}) holds port {service.port}" in output
    service._process.wait(timeout=30)
    assert alive(other)
    assert not (tmp_path / "orthanc.pid").exists()


def test_with_systemd_the_service_is_stopped_through_systemctl(orthancs, tmp_path):
    service, other = orthancs
    calls = tmp_path / "systemctl.log"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "systemctl"  # answers MainPID with the stand-in's pid, logs the rest
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\n'
                    f'[ "$1" = show ] && echo {service._process.pid}\nexit 0\n')
    fake.chmod(0o755)
    (tmp_path / "systemd").mkdir()
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "WSI_SERVICE_SYSTEMD_DIR": str(tmp_path / "systemd")}
    free_port(tmp_path, other.port, env)
    assert "stop" not in calls.read_text()
    free_port(tmp_path, service.port, env)
    assert calls.read_text().splitlines()[-1] == "stop orthanc"  # not disabled: set-up did not install it
    assert alive(service) and alive(other)  # systemctl is a fake here: only it was asked
