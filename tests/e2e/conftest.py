"""The e2e harness: real processes on loopback, started once per session and torn down reliably.

* the FHIR test double (tests.e2e.ehr_server) under uvicorn on a free port;
* `osteoalert serve --port P` with OSTEOALERT_REDIS_URL, OSTEOALERT_DATABASE_URL and
  OSTEOALERT_FHIR_BASE_URL pointing at the pieces below;
* a real Celery worker, prefork pool of 2 processes (`python -m worker worker`);
* the machine's Redis (127.0.0.1:6379), database E2E_REDIS_DB, with a queue of this session's own;
* PostgreSQL (127.0.0.1:5432, trust auth): a fresh database for the session, dropped at the end.

When Redis or PostgreSQL cannot be reached the suite is SKIPPED with a loud reason (.ci/run starts
Redis when it is not running). Tests that stop Redis start a redis-server of their own
(tests.e2e.processes.PrivateRedis). When a test fails, the tail of every process log is printed.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from tests.e2e.ehr import BACKPORT_FIXTURES, Ehr
from tests.e2e.processes import Proc, forget_queue, redis_answers
from tests.e2e.stack import Service, StackConfig, start_ehr, start_service, start_worker

E2E_REDIS_DB = 13
REDIS_URL = os.environ.get("E2E_REDIS_URL", f"redis://127.0.0.1:6379/{E2E_REDIS_DB}")
PG_ADMIN = os.environ.get("PG_TEST_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
CALL_FAILED = pytest.StashKey[bool]()


def _libpq(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (psycopg does not know the `+psycopg` driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if call.when == "call":
        item.stash[CALL_FAILED] = bool(getattr(report, "failed", False))
    return report


@pytest.fixture(scope="session")
def e2e_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e-logs")


@pytest.fixture(autouse=True)
def _process_logs_on_failure(request: pytest.FixtureRequest, e2e_logs: Path) -> Iterator[None]:
    yield
    if request.node.stash.get(CALL_FAILED, False):
        for log in sorted(e2e_logs.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-40:]
            sys.stderr.write(f"\n----- {log.name} (last {len(lines)} lines) -----\n" + "\n".join(lines))


@pytest.fixture(scope="session")
def shared_redis() -> str:
    why = redis_answers(REDIS_URL)
    if why is not None:
        pytest.skip(f"!!! E2E NOT RUN: Redis at {REDIS_URL} unreachable ({why}); .ci/run starts it !!!")
    return REDIS_URL


@pytest.fixture(scope="session")
def e2e_database() -> Iterator[str]:
    name = f"osteoalert_e2e_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(_libpq(PG_ADMIN), autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        pytest.skip(f"!!! E2E NOT RUN: PostgreSQL at {PG_ADMIN} unreachable ({exc}) !!!")
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=name)
            yield url.render_as_string(hide_password=False)
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def ehr_process(e2e_logs: Path) -> Iterator[tuple[Proc, str]]:
    if not BACKPORT_FIXTURES.is_dir():
        pytest.skip(f"!!! E2E NOT RUN: the Backport IG examples are missing ({BACKPORT_FIXTURES}) !!!")
    proc, url = start_ehr(e2e_logs)
    yield proc, url
    proc.stop()


@pytest.fixture(scope="session")
def ehr(ehr_process: tuple[Proc, str]) -> Iterator[Ehr]:
    client = Ehr(ehr_process[1])
    yield client
    client.close()


@pytest.fixture(scope="session")
def stack_config(shared_redis: str, e2e_database: str, ehr: Ehr) -> Iterator[StackConfig]:
    config = StackConfig(redis_url=shared_redis, database_url=e2e_database, fhir_base_url=ehr.base_url)
    yield config
    forget_queue(shared_redis, config.queue)


@pytest.fixture(scope="session")
def service_process(stack_config: StackConfig, e2e_logs: Path) -> Iterator[tuple[Proc, str]]:
    proc, url = start_service(stack_config, e2e_logs)
    yield proc, url
    proc.stop()


@pytest.fixture(scope="session")
def service(service_process: tuple[Proc, str]) -> Iterator[Service]:
    client = Service(service_process[1])
    yield client
    client.close()


@pytest.fixture(scope="session")
def worker(stack_config: StackConfig, e2e_logs: Path, service_process: tuple[Proc, str]) -> Iterator[Proc]:
    """The session's Celery worker (after the service: the service migrates the database)."""
    proc = start_worker(stack_config, e2e_logs, name="worker")
    yield proc
    proc.stop()
