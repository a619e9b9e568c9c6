"""Prometheus metrics of one osteoalert process, on a registry of its own (never the global default).

`create_app` builds one `Metrics` per app and serves it at GET /metrics; each Celery worker process
builds one in its `WorkerContext` and the worker's probe server exports it (see `worker.probes`).

Every label value is bounded: service ids, rule ids and task names are ours; anything else a caller
could choose (an unknown service id, a notification kind we do not know) is folded into "other".
No label ever carries a patient, a resource id or a value.

Multi-process note: a registry lives in one process. The API runs ONE uvicorn process per container
(`osteoalert serve`); scale it with replicas, each scraped on its own. Celery's prefork pool runs
tasks in child processes: the worker's entry command sets PROMETHEUS_MULTIPROC_DIR so that the
children's values land in files that the parent's probe server aggregates (prometheus_client's
multiprocess mode; see deploy/entrypoint.sh).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "exposition"]

# The classic text format, which every Prometheus version scrapes (our names need no escaping).
CONTENT_TYPE_LATEST: Final = "text/plain; version=0.0.4; charset=utf-8"

OTHER: Final = "other"
HOOK_SERVICES: Final = frozenset(
    {"osteoalert-patient-view", "osteoalert-order-select", "osteoalert-order-sign"}
)
NOTIFICATION_KINDS: Final = frozenset(
    {"handshake", "heartbeat", "event-notification", "query-status", "query-event", "ping", "resource"}
)
INDICATORS: Final = frozenset({"info", "warning", "critical"})
FEEDBACK_OUTCOMES: Final = frozenset({"accepted", "overridden"})
TASK_OUTCOMES: Final = ("succeeded", "retried", "failed")
WRITE_BACK_OUTCOMES: Final = ("created", "exists", "failed")
# A hook answers in tens of milliseconds; the EHR gives up after a few seconds.
HOOK_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A background task fetches a patient's record from the EHR: up to a few seconds, retries aside.
TASK_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
RULE_ID_MAX: Final = 64


def _one_of(value: str, known: frozenset[str]) -> str:
    return value if value in known else OTHER


def _rule(value: Any) -> str:
    """Rule ids are ours (kebab-case, short); anything else is folded."""
    text = str(value)
    ok = 0 < len(text) <= RULE_ID_MAX and all(c.isalnum() or c in "-_." for c in text)
    return text if ok else OTHER


class Metrics:
    """The series of one process. Methods take what the caller has; labels are bounded here."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # No `*_created` series next to every counter and histogram: they double the series count
        # and nothing here reads them (prometheus_client's switch is process-wide).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "osteoalert_http_requests", "HTTP requests by route template, method and status.",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.http_duration = Histogram(
            "osteoalert_http_request_duration_seconds", "HTTP request latency by route template.",
            ["route"], buckets=HOOK_BUCKETS, registry=r,
        )  # fmt: skip
        self.hook_calls = Counter(
            "osteoalert_hook_calls", "CDS Hooks service calls by service id and HTTP status.",
            ["service", "status"], registry=r,
        )  # fmt: skip
        self.hook_duration = Histogram(
            "osteoalert_hook_duration_seconds", "CDS Hooks service call latency by service id.",
            ["service"], buckets=HOOK_BUCKETS, registry=r,
        )  # fmt: skip
        self.cards = Counter(
            "osteoalert_cards", "Cards returned by CDS Hooks calls, by service, rule id and indicator.",
            ["service", "rule_id", "indicator"], registry=r,
        )  # fmt: skip
        self.feedback = Counter(
            "osteoalert_feedback", "CDS Hooks feedback items received, by rule id and outcome.",
            ["rule_id", "outcome"], registry=r,
        )  # fmt: skip
        self.notifications = Counter(
            "osteoalert_notifications",
            "FHIR notifications by kind and outcome (accepted: work handed over; repeat: redelivery; "
            "recorded: no work; refusals by HTTP outcome with kind 'unread').",
            ["kind", "outcome"], registry=r,
        )  # fmt: skip
        self.tasks = Counter(
            "osteoalert_tasks", "Background task attempts by task and outcome (succeeded, retried, failed).",
            ["task", "outcome"], registry=r,
        )  # fmt: skip
        self.task_retries = Counter(
            "osteoalert_task_retries", "Background task retries scheduled after transient failures.",
            ["task"], registry=r,
        )  # fmt: skip
        self.task_failures = Counter(
            "osteoalert_task_failures",
            "Background tasks recorded as failed (permanent failure, or retries exhausted).",
            ["task"], registry=r,
        )  # fmt: skip
        self.task_duration = Histogram(
            "osteoalert_task_duration_seconds", "Background task attempt duration by task.",
            ["task"], buckets=TASK_BUCKETS, registry=r,
        )  # fmt: skip
        self.write_backs = Counter(
            "osteoalert_write_backs", "DetectedIssue write-backs by outcome (created, exists, failed).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.background_findings = Counter(
            "osteoalert_background_findings", "Findings of background evaluation by rule id.",
            ["rule_id"], registry=r,
        )  # fmt: skip
        for outcome in WRITE_BACK_OUTCOMES:  # present at 0 from the start: rate() needs a first sample
            self.write_backs.labels(outcome)

    # --- HTTP ---------------------------------------------------------------------------------------

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_duration.labels(route).observe(seconds)

    def hook_call(self, service: str, status: int, seconds: float) -> None:
        label = _one_of(service, HOOK_SERVICES)
        self.hook_calls.labels(label, str(status)).inc()
        self.hook_duration.labels(label).observe(seconds)

    def cards_returned(self, service: str, cards: Iterable[Mapping[str, Any]]) -> None:
        label = _one_of(service, HOOK_SERVICES)
        for card in cards:
            topic = card.get("source", {}).get("topic", {})
            indicator = _one_of(str(card.get("indicator")), INDICATORS)
            self.cards.labels(label, _rule(topic.get("code")), indicator).inc()

    def feedback_received(self, items: Iterable[tuple[str, str]]) -> None:
        """(rule id, outcome) per feedback item."""
        for rule_id, outcome in items:
            self.feedback.labels(_rule(rule_id), _one_of(outcome, FEEDBACK_OUTCOMES)).inc()

    def notification(self, kind: str, outcome: str) -> None:
        self.notifications.labels(_one_of(kind, NOTIFICATION_KINDS | {"unread"}), outcome).inc()

    # --- background work ----------------------------------------------------------------------------

    def task_attempt(self, task: str, outcome: str, seconds: float) -> None:
        name = _rule(task)
        self.tasks.labels(name, outcome).inc()
        self.task_duration.labels(name).observe(seconds)
        if outcome == "retried":
            self.task_retries.labels(name).inc()
        elif outcome == "failed":
            self.task_failures.labels(name).inc()

    def write_back(self, outcome: str, count: int = 1) -> None:
        if count > 0:
            self.write_backs.labels(outcome).inc(count)

    def findings(self, rule_ids: Iterable[str]) -> None:
        for rule_id in rule_ids:
            self.background_findings.labels(_rule(rule_id)).inc()


def exposition(registry: CollectorRegistry) -> bytes:
    """The text exposition format of `registry` (what GET /metrics answers)."""
    return generate_latest(registry)
