"""The worker's HTTP server, for Prometheus and the kubelet: GET /metrics, /healthz, /readyz.

A Celery bootstep starts it in the worker's MAIN process when `worker_metrics_port` is not 0, on
`worker_metrics_host` (127.0.0.1 by default; 0.0.0.0 in containers):

* /metrics: this worker's series (tasks by outcome, retries, failures, durations, write-backs,
  background findings). Celery's prefork pool runs tasks in child processes: when
  PROMETHEUS_MULTIPROC_DIR is set (deploy/entrypoint.sh sets it for `worker`), the children write
  their values to files there and this server aggregates them (prometheus_client's multiprocess
  mode); without it, only this process's registry is served (right for `--pool threads|solo`).
* /healthz: the main process answers (liveness).
* /readyz: the database answers with its migrations at head, and the broker answers a PING (when
  one is configured); 503 naming the failing check otherwise (readiness).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import redis
from celery import Celery, bootsteps
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from service.adapters.store import make_engine, migrations_current
from service.observability.metrics import CONTENT_TYPE_LATEST, exposition
from service.settings import Settings
from worker.context import WorkerContext

logger = logging.getLogger("worker.probes")

# prometheus_client's own switch for multiprocess mode (read by the library at import time too).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CHECK_TIMEOUT_SECONDS = 2.0
ROUTES = ("/metrics", "/healthz", "/readyz")
Checks = Callable[[], dict[str, str]]


def served_registry(context: WorkerContext) -> CollectorRegistry:
    """What /metrics exports: the pool's aggregated files in multiprocess mode, else our registry."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return registry
    return context.metrics.registry


def readiness_checks(settings: Settings) -> Checks:
    """Database (migrations at head) and broker checks; each closes its connections when done, so
    that none is inherited by the pool processes forked later."""
    database = make_engine(settings.database_url)

    def database_state() -> str:
        try:
            return "ok" if migrations_current(database) else "migrations not at head"
        except Exception as exc:  # any failure means "not ready"; its type is enough to say why
            logger.warning("readiness: database unreachable (%s)", type(exc).__name__)
            return "unreachable"
        finally:
            database.dispose()

    def broker_state() -> str:
        if settings.redis_url is None:
            return "not configured"
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=CHECK_TIMEOUT_SECONDS,
            socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            logger.warning("readiness: broker unreachable (%s)", type(exc).__name__)
            return "unreachable"
        finally:
            client.close()
        return "ok"

    return lambda: {"database": database_state(), "broker": broker_state()}


def _handler(registry: CollectorRegistry, checks: Checks) -> type[BaseHTTPRequestHandler]:
    class ProbeHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, exposition(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._answer(200, orjson.dumps({"status": "ok"}))
            elif path == "/readyz":
                state = checks()
                ready = all(v in {"ok", "not configured"} for v in state.values())
                body = {"status": "ready" if ready else "not ready", "checks": state}
                self._answer(200 if ready else 503, orjson.dumps(body))
            else:
                self._answer(404, orjson.dumps({"status": "not found"}))

        def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: ARG002 - http.server's signature
            logger.debug("probe %s", self.path.split("?", 1)[0])  # not the client address, not the query

    return ProbeHandler


class ProbeServer:
    """The HTTP server on its own daemon thread."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, checks: Checks) -> None:
        self.server = ThreadingHTTPServer((host, port), _handler(registry, checks))
        self.server.daemon_threads = True
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="osteoalert-probes", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        logger.info("worker probes and metrics on port %s (/metrics, /healthz, /readyz)", self.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def probe_server(context: WorkerContext) -> ProbeServer:
    settings = context.settings
    return ProbeServer(
        settings.worker_metrics_host,
        settings.worker_metrics_port,
        served_registry(context),
        readiness_checks(settings),
    )


def install(app: Celery, context: WorkerContext) -> None:
    """Start the probe server with the worker (a bootstep: only `celery worker` runs it, not beat,
    not the eager app of tests or of the CLI)."""
    if context.settings.worker_metrics_port == 0:
        return

    class Probes(bootsteps.StartStopStep):
        def create(self, parent: Any) -> ProbeServer | None:  # type: ignore[override]  # noqa: ARG002
            try:
                return probe_server(context)
            except OSError as exc:  # the port is taken: the worker still works, unobserved (and says so)
                logger.error(
                    "worker probes NOT started: %s:%s: %s (set OSTEOALERT_WORKER_METRICS_PORT)",
                    context.settings.worker_metrics_host, context.settings.worker_metrics_port,
                    exc.strerror or type(exc).__name__,
                )  # fmt: skip
                return None

    app.steps["worker"].add(Probes)
