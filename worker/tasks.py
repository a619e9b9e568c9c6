"""Subscription-path tasks (issue #4). Each task is a one-liner that calls a use case.

Arguments are ids only (a Patient id, a focus reference, a Subscription id, event numbers, an
instant): no PHI ever crosses the broker. `WorkerContext.attempt` is the retry policy: transient FHIR
failures retry with exponential backoff and jitter honouring Retry-After; permanent ones (4xx other
than 429) and exhausted retries are recorded as failed (GET /fhir/notify/failures).
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task

from service import evaluation, recovery
from service.notify import TASK_CHECK_SUBSCRIPTIONS, TASK_EVALUATE_PATIENT, TASK_RECOVER_EVENTS
from worker.context import WorkerContext


def register(app: Celery, context: WorkerContext) -> None:
    """Register the subscription tasks on `app`."""

    @app.task(name=TASK_EVALUATE_PATIENT, bind=True, max_retries=None, shared=False)
    def evaluate_patient(self: Task[Any, Any], patient: str | None = None, focus: str | None = None) -> None:
        context.attempt(
            self, lambda: evaluation.evaluate_patient(context.background, patient=patient, focus=focus)
        )

    @app.task(name=TASK_RECOVER_EVENTS, bind=True, max_retries=None, shared=False)
    def recover_events(
        self: Task[Any, Any],
        subscription: str | None = None,
        first: int | None = None,
        last: int | None = None,
        since: str | None = None,
    ) -> None:
        context.attempt(
            self,
            lambda: recovery.recover_events(
                context.background, context.intake(app), subscription=subscription, first=first,
                last=last, since=since,
            ),
        )  # fmt: skip

    @app.task(name=TASK_CHECK_SUBSCRIPTIONS, bind=True, max_retries=None, shared=False)
    def check_subscriptions(self: Task[Any, Any]) -> None:
        context.attempt(
            self,
            lambda: recovery.check_subscriptions(
                context.background, context.intake(app), policy=context.recovery, failures=context.failures
            ),
        )
