"""osteoalert as it is deployed, in real processes: the FHIR double, `osteoalert serve`, and
`python -m worker worker` (Celery, prefork pool), configured only through OSTEOALERT_* variables.

The worker is started as deploy/entrypoint.sh starts it: `python -m worker worker <celery options>`
(the Celery command line on `make_celery(Settings())`). `--without-gossip/mingle/heartbeat` keep it
from talking to other workers that may share the Redis server.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from service.adapters.store import make_engine, upgrade_to_head
from service.settings import Settings
from tests.e2e.processes import Proc, free_port, script, start, wait_http, wait_log

WORKER_READY = "ready."  # Celery's "celery@<name> ready." once the consumer runs


@dataclass(frozen=True, slots=True)
class StackConfig:
    redis_url: str
    database_url: str
    fhir_base_url: str
    queue: str = field(default_factory=lambda: f"osteoalert-e2e-{uuid.uuid4().hex[:10]}")
    visibility_timeout: int = 3600
    retry_base: float = 0.2
    retry_max: float = 2.0
    log_level: str = "INFO"
    extra: Mapping[str, str] = field(default_factory=dict)

    def with_changes(self, **changes: object) -> StackConfig:
        return replace(self, **changes)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        """The process environment: ours replaces any OSTEOALERT_* of the caller's."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("OSTEOALERT_")}
        ours = {
            "OSTEOALERT_REDIS_URL": self.redis_url,
            "OSTEOALERT_DATABASE_URL": self.database_url,
            "OSTEOALERT_FHIR_BASE_URL": self.fhir_base_url,
            "OSTEOALERT_CELERY_QUEUE": self.queue,
            "OSTEOALERT_CELERY_VISIBILITY_TIMEOUT_SECONDS": str(self.visibility_timeout),
            "OSTEOALERT_WORKER_RETRY_BASE_SECONDS": str(self.retry_base),
            "OSTEOALERT_WORKER_RETRY_MAX_SECONDS": str(self.retry_max),
            "OSTEOALERT_LOG_LEVEL": self.log_level,
            "OSTEOALERT_LOG_FORMAT": "text",  # the logs are read by people when a test fails
            "OSTEOALERT_WORKER_METRICS_PORT": "0",  # several workers at once: no fixed probe port
        } | dict(self.extra)
        # Unknown OSTEOALERT_* variables are ignored by Settings: a renamed setting must fail here.
        unknown = [k for k in ours if k.removeprefix("OSTEOALERT_").lower() not in Settings.model_fields]
        if unknown:
            raise ValueError(f"not settings of service.settings.Settings: {unknown}")
        return base | ours | {"PYTHONUNBUFFERED": "1"}


def start_ehr(log_dir: Path, *, name: str = "ehr") -> tuple[Proc, str]:
    """The FHIR double (tests.e2e.ehr_server) on a free port; its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "tests.e2e.ehr_server", "--port", str(port)]
    proc = start(name, command, env=os.environ, log_dir=log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_http(proc, f"{url}/_e2e/failures", timeout=30)
    return proc, url


def _osteoalert() -> list[str]:
    console = Path(script("osteoalert"))
    return [str(console)] if console.exists() else [sys.executable, "-m", "service.cli"]


def start_service(
    config: StackConfig, log_dir: Path, *, name: str = "service", processes: int = 1
) -> tuple[Proc, str]:
    """`osteoalert serve --port P` (it migrates the database at start-up); its base URL once ready.

    `processes` > 1: that many uvicorn processes on the app factory, as replicas would be (the
    database is migrated first, once: concurrent start-ups would race on an empty schema)."""
    port = free_port()
    command = [*_osteoalert(), "serve", "--port", str(port)]
    if processes > 1:
        database = make_engine(config.database_url)
        upgrade_to_head(database)
        database.dispose()
        command = [
            script("uvicorn"), "--factory", "service.main:create_app_from_environment", "--port", str(port),
            "--workers", str(processes), "--log-level", config.log_level.lower(),
        ]  # fmt: skip
    proc = start(name, command, env=config.env(), log_dir=log_dir)
    url = f"http://127.0.0.1:{port}"
    wait_http(proc, f"{url}/readyz", timeout=60)
    return proc, url


def start_worker(
    config: StackConfig, log_dir: Path, *, name: str, concurrency: int = 2, loglevel: str = "INFO"
) -> Proc:
    """A Celery worker with a prefork pool of `concurrency` processes. At INFO (the default) it is
    returned once it consumes (readiness is read from its log); at a quieter level the caller
    checks readiness itself (the benchmark's warm-up does)."""
    command = [
        sys.executable, "-m", "worker", "worker", "--pool", "prefork", "--concurrency", str(concurrency),
        "-Q", config.queue, "-n", f"{name}@e2e", "--without-gossip", "--without-mingle",
        "--without-heartbeat", "--loglevel", loglevel,
    ]  # fmt: skip
    proc = start(name, command, env=config.env(), log_dir=log_dir)
    if loglevel in ("DEBUG", "INFO"):
        wait_log(proc, WORKER_READY, timeout=60)
    return proc


class Service:
    """An HTTP client of `osteoalert serve`, as the EHR uses it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30.0)

    def close(self) -> None:
        self.http.close()

    def notify(
        self, body: bytes, *, path: str = "/fhir/notify", method: str = "POST",
        content_type: str | None = "application/fhir+json", subscription: str | None = None,
    ) -> httpx.Response:  # fmt: skip
        headers = {"Content-Type": content_type} if content_type else {}
        params = {"subscription": subscription} if subscription else None
        return self.http.request(method, path, content=body, headers=headers, params=params)

    def notify_until_accepted(self, body: bytes, *, timeout: float = 60.0) -> tuple[httpx.Response, int]:
        """Deliver as an EHR does: retry on 503 (honouring Retry-After, capped) until 2xx."""
        refused = 0
        deadline = time.monotonic() + timeout
        while True:
            answer = self.notify(body)
            if answer.status_code != 503:
                return answer, refused
            refused += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"still refused after {refused} deliveries: {answer.text}")
            time.sleep(min(float(answer.headers.get("Retry-After", "1")), 0.5))

    def subscription_state(self, subscription: str) -> dict[str, object] | None:
        states = self.http.get("/fhir/notify/subscriptions").json()["subscriptions"]
        return next((s for s in states if s["subscription"] == subscription), None)

    def failures(self) -> dict[str, object]:
        data: dict[str, object] = self.http.get("/fhir/notify/failures").json()
        return data
