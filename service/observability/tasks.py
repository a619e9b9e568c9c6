"""Background task telemetry, shared by the Celery workers and the embedded outbox dispatcher.

`TaskTelemetry.task_done` is called once per attempt of a task with its outcome (succeeded, retried
or failed) and its duration: it moves the task metrics and logs ONE event with the task name, its id
(Celery's, when there is one), the outcome, the attempt number and the time taken. When the task
evaluated a patient, the write-back outcomes and the background findings (rule ids) are counted too.
"""

from __future__ import annotations

import logging

from service.evaluation import PatientOutcome
from service.observability.metrics import Metrics

logger = logging.getLogger("osteoalert.tasks")


class TaskTelemetry:
    def __init__(self, metrics: Metrics | None) -> None:
        self.metrics = metrics

    def task_done(
        self,
        task: str,
        outcome: str,
        seconds: float,
        result: object = None,
        *,
        task_id: str | None = None,
        attempts: int | None = None,
    ) -> None:
        if self.metrics is not None:
            self.metrics.task_attempt(task, outcome, seconds)
            if isinstance(result, PatientOutcome):
                self.metrics.write_back("created", result.written)
                self.metrics.write_back("exists", result.already_there)
                self.metrics.write_back("failed", result.write_failures)
                self.metrics.findings(result.findings)
        extra: dict[str, object] = {
            "event": "task", "task": task, "outcome": outcome, "duration_ms": round(seconds * 1000, 3),
        }  # fmt: skip
        if task_id is not None:
            extra["task_id"] = task_id
        if attempts is not None:
            extra["attempts"] = attempts
        if isinstance(result, PatientOutcome):
            extra["rule_ids"] = list(result.findings)
        logger.info(
            "task %s %s (attempt %s) in %.1f ms", task, outcome, attempts or "-", seconds * 1000, extra=extra
        )
