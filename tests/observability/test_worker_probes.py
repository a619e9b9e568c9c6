"""The worker's probe server (GET /metrics, /healthz, /readyz) and its bootstep, in process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.adapters.store import make_engine, upgrade_to_head
from service.settings import Settings
from tests.fhir_double import free_port
from tests.observability.prometheus import parse, value
from worker.celery_app import make_celery
from worker.context import WorkerContext
from worker.probes import ProbeServer, readiness_checks, served_registry

TASK = "osteoalert.evaluate_patient"


def migrated(tmp_path: Path, **changes: object) -> Settings:
    values: dict[str, object] = {"database_url": f"sqlite:///{tmp_path / 'w.db'}"} | changes
    settings = Settings.model_validate(values)
    database = make_engine(settings.database_url)
    upgrade_to_head(database)
    database.dispose()
    return settings


@pytest.fixture
def probes(tmp_path: Path) -> Iterator[tuple[WorkerContext, str]]:
    context = WorkerContext(migrated(tmp_path))
    server = ProbeServer("127.0.0.1", 0, served_registry(context), readiness_checks(context.settings))
    server.start()
    try:
        yield context, f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
        context.close()


def test_metrics_serve_this_workers_task_series(probes: tuple[WorkerContext, str]) -> None:
    context, base = probes
    context.telemetry.task_done(TASK, "retried", 0.2)
    context.telemetry.task_done(TASK, "succeeded", 0.1)
    response = httpx.get(f"{base}/metrics")
    assert response.status_code == httpx.codes.OK
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse(response.text)
    assert value(samples, "osteoalert_tasks_total", task=TASK, outcome="succeeded") == 1
    assert value(samples, "osteoalert_task_retries_total", task=TASK) == 1
    assert value(samples, "osteoalert_task_duration_seconds_count", task=TASK) == 2


def test_healthz_answers_and_readyz_checks_the_database_and_broker(probes: tuple[WorkerContext, str]) -> None:
    _, base = probes
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == httpx.codes.OK
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "broker": "not configured"}}
    assert httpx.get(f"{base}/nope").status_code == httpx.codes.NOT_FOUND


def test_readyz_is_503_when_migrations_are_not_at_head(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}")
    assert readiness_checks(settings)()["database"] == "migrations not at head"


def test_readyz_is_503_when_the_broker_does_not_answer(tmp_path: Path) -> None:
    settings = migrated(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    context = WorkerContext(settings)
    server = ProbeServer("127.0.0.1", 0, served_registry(context), readiness_checks(settings))
    server.start()
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/readyz", timeout=10)
    finally:
        server.stop()
    assert response.status_code == httpx.codes.SERVICE_UNAVAILABLE
    assert response.json()["checks"] == {"database": "ok", "broker": "unreachable"}


@pytest.mark.parametrize(("port", "installed"), [(9808, True), (0, False)])
def test_the_probe_server_is_a_worker_bootstep_unless_its_port_is_0(
    tmp_path: Path, port: int, installed: bool
) -> None:
    app = make_celery(Settings(database_url=f"sqlite:///{tmp_path / 'w.db'}", worker_metrics_port=port))
    names = {step.__name__ for step in app.steps["worker"]}
    assert ("Probes" in names) is installed
