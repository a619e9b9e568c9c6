"""`osteoalert serve` as a real process: uvicorn, embedded defaults (SQLite, no Redis), real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.service.api.ehr import body, full_prefetch, hook_request
from tests.vignettes import BY_ID

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path  # the process's stdout and stderr


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSTEOALERT_")}
    env["OSTEOALERT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env | {"PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"osteoalert serve exited: {log.read_text()}")
            try:
                if httpx.get(f"{running.base}/healthz", timeout=1).status_code == httpx.codes.OK:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_serve_answers_hooks_over_real_http_and_stops_cleanly(server: Server) -> None:
    base, process = server.base, server.process
    assert httpx.get(f"{base}/readyz", timeout=5).json()["status"] == "ready"
    discovery = httpx.get(f"{base}/cds-services", timeout=5).json()
    assert len(discovery["services"]) == 3
    v = BY_ID["V01"]
    request = hook_request("patient-view", "v01", prefetch=full_prefetch(v.bundle()))
    response = httpx.post(f"{base}/cds-services/osteoalert-patient-view", content=body(request), timeout=10)
    assert response.status_code == httpx.codes.OK, response.text
    # Evaluated at the real current time: V01's labs (dated around 2026-01-15) may age out of their
    # windows, so only the shape is checked here; the HTTP vignette tests pin the clock.
    assert isinstance(response.json()["cards"], list)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    output = server.log.read_text()
    assert "CDS Hooks authentication is OFF" in output
    assert "Traceback" not in output


def test_serve_refuses_a_bad_configuration_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSTEOALERT_")}
    env |= {"OSTEOALERT_RULE_PARAMS": '{"CA_WINDOWS": 1}', "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.decode().startswith("osteoalert: configuration:")
    assert "Traceback" not in done.stderr.decode()


def test_serve_rejects_a_port_that_is_not_a_port() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve", "--port", "99999"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "not a TCP port" in done.stderr.decode()
