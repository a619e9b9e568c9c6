"""The image's entry commands, run for real outside Docker (no Docker engine on our machines): the
same shell script, `migrate`, `api` and `worker`, with this virtualenv's executables on PATH.

The worker runs a real prefork pool against the local Redis (skipped LOUDLY when Redis is not
reachable) on a queue of its own; a task that fails in a pool process must show up in the main
process's /metrics: that is the multiprocess aggregation the entrypoint switches on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from service.adapters.store import make_engine, migrations_current
from service.settings import Settings
from tests.fhir_double import free_port
from tests.observability.prometheus import parse, value
from worker.celery_app import make_celery

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
REDIS_URL = "redis://127.0.0.1:6379/13"
TASK = "osteoalert.evaluate_patient"


def environment(tmp_path: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OSTEOALERT_", "PROMETHEUS_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["OSTEOALERT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'osteoalert.db'}"
    return env | variables


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["sh", str(ENTRYPOINT), *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the process exited ({process.returncode}): {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == httpx.codes.OK:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout} s: {log.read_text()[-3000:]}")


def json_lines(log: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_migrate_brings_the_database_to_head(tmp_path: Path) -> None:
    env = environment(tmp_path)
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), "migrate"], env=env, capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    database = make_engine(env["OSTEOALERT_DATABASE_URL"])
    try:
        assert migrations_current(database)
    finally:
        database.dispose()


def test_api_serves_probes_and_metrics_and_logs_json(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, PORT=str(port))
    log = tmp_path / "api.log"
    with running(["api"], env, log) as process:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz", process, log)
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
        assert httpx.get(f"{base}/cds-services").status_code == httpx.codes.OK
        metrics = parse(httpx.get(f"{base}/metrics").text)
    route = {"route": "/cds-services", "method": "GET", "status": "200"}
    assert value(metrics, "osteoalert_http_requests_total", **route) == 1
    assert process.returncode in {0, -signal.SIGTERM}  # uvicorn re-raises the signal it shut down on
    lines = json_lines(log)
    assert any(line.get("event") == "http.request" and line.get("route") == "/cds-services" for line in lines)
    assert "CDS Hooks authentication is OFF" in log.read_text()
    assert "Traceback" not in log.read_text()


def redis_reachable() -> bool:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def test_worker_pool_metrics_are_served_by_the_main_process(tmp_path: Path) -> None:
    if not redis_reachable():
        pytest.skip(
            reason=f"LOUD SKIP: Redis is not reachable at {REDIS_URL}: the worker process is untested"
        )
    port, queue = free_port(), f"osteoalert-obs-{uuid.uuid4().hex[:8]}"
    env = environment(
        tmp_path, OSTEOALERT_REDIS_URL=REDIS_URL, OSTEOALERT_CELERY_QUEUE=queue,
        OSTEOALERT_WORKER_METRICS_PORT=str(port), PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )  # fmt: skip
    migrate = subprocess.run(["sh", str(ENTRYPOINT), "migrate"], env=env, timeout=120, check=False)
    assert migrate.returncode == 0
    log = tmp_path / "worker.log"
    with running(["worker", "--concurrency", "2"], env, log) as process:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/readyz", process, log)
        assert httpx.get(f"{base}/readyz").json()["checks"] == {"database": "ok", "broker": "ok"}
        # No OSTEOALERT_FHIR_BASE_URL: the task fails permanently in a pool process, and is recorded.
        producer = make_celery(Settings(redis_url=REDIS_URL, celery_queue=queue, worker_metrics_port=0))
        try:
            producer.send_task(TASK, kwargs={"patient": "p1"}, queue=queue)
        finally:
            producer.close()
        deadline, failures = time.monotonic() + 60, 0.0
        while time.monotonic() < deadline and failures < 1:
            samples = parse(httpx.get(f"{base}/metrics").text)
            failures = value(samples, "osteoalert_task_failures_total", task=TASK)
            time.sleep(0.2)
    assert failures == 1, log.read_text()[-3000:]
    assert list((tmp_path / "metrics").glob("*.db"))  # the pool processes wrote their values there
    events = [line for line in json_lines(log) if line.get("event") == "task"]
    assert [(e["task"], e["outcome"]) for e in events] == [(TASK, "failed")]
    assert events[0]["task_id"]
