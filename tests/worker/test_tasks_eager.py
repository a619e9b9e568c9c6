"""The subscription tasks on a real Celery app in eager mode (no broker): names, retries, failures."""

from __future__ import annotations

import time

import pytest

from service.settings import Settings
from tests.fhir_double import FhirDouble
from worker.celery_app import make_celery
from worker.context import WorkerContext

TASKS = ("osteoalert.evaluate_patient", "osteoalert.recover_events", "osteoalert.check_subscriptions")


def test_the_tasks_have_stable_names_and_beat_checks_the_subscriptions(worker_settings: Settings) -> None:
    app = make_celery(worker_settings)
    assert set(TASKS) <= set(app.tasks)
    (entry,) = [e for e in app.conf.beat_schedule.values() if e["task"] == "osteoalert.check_subscriptions"]
    assert entry["schedule"] == worker_settings.notify_recovery_interval_seconds
    assert app.conf.task_default_queue == worker_settings.celery_queue
    assert (app.conf.task_acks_late, app.conf.task_serializer, app.conf.accept_content) == (
        True,
        "json",
        ["json"],
    )


def test_evaluate_patient_writes_the_finding_back(
    worker_settings: Settings, context: WorkerContext, ehr: tuple[FhirDouble, str]
) -> None:
    double, _ = ehr
    app = make_celery(worker_settings, context=context)
    app.tasks["osteoalert.evaluate_patient"].apply_async(kwargs={"patient": "v01"})
    (issue,) = double.of_type("DetectedIssue")
    assert issue["code"]["coding"][0]["code"] == "phpt-suspected"
    assert context.failures.failure_count() == 0


def test_a_server_answering_503_is_retried_honouring_retry_after_then_succeeds(
    worker_settings: Settings, context: WorkerContext, ehr: tuple[FhirDouble, str]
) -> None:
    double, _ = ehr
    double.fail_next(2, status=503, retry_after="1")
    app = make_celery(worker_settings, context=context)
    started = time.monotonic()
    app.tasks["osteoalert.evaluate_patient"].apply_async(kwargs={"focus": "Observation/v01-obs1"})
    assert time.monotonic() - started >= 2.0  # two waits of at least Retry-After: 1 s
    assert len(double.of_type("DetectedIssue")) == 1
    assert context.failures.failure_count() == 0


def test_a_404_is_recorded_as_failed_with_its_reason(
    worker_settings: Settings, context: WorkerContext
) -> None:
    app = make_celery(worker_settings, context=context)
    app.tasks["osteoalert.evaluate_patient"].apply_async(kwargs={"patient": "nobody"})
    (failure,) = context.failures.failures()
    assert (failure.task, failure.subject, failure.reason, failure.attempts) == (
        "osteoalert.evaluate_patient", "Patient/nobody", "FHIR server answered 404", 1,
    )  # fmt: skip


def test_retries_are_bounded_and_then_recorded(
    worker_settings: Settings, context: WorkerContext, ehr: tuple[FhirDouble, str]
) -> None:
    double, _ = ehr
    double.fail_next(99, status=503, retry_after="0")
    app = make_celery(worker_settings, context=context)
    app.tasks["osteoalert.evaluate_patient"].apply_async(kwargs={"patient": "v01"})
    (failure,) = context.failures.failures()
    assert failure.attempts == worker_settings.worker_max_retries + 1
    assert failure.reason == "gave up: FHIR server answered 503"


def test_recovery_fans_out_to_patient_evaluations(
    worker_settings: Settings, context: WorkerContext, ehr: tuple[FhirDouble, str]
) -> None:
    double, _ = ehr
    double.add_event("s1", "Observation/v04-obs1")
    app = make_celery(worker_settings, context=context)
    app.tasks["osteoalert.recover_events"].apply_async(
        kwargs={"subscription": "Subscription/s1", "first": 1, "last": 1, "since": "2026-01-01T00:00:00Z"}
    )
    assert [i["patient"]["reference"] for i in double.of_type("DetectedIssue")] == ["Patient/v04"]


@pytest.mark.parametrize("kwargs", [{"patient": "v01"}, {"focus": "Observation/v04-obs1"}])
def test_task_arguments_are_ids_that_survive_json(
    worker_settings: Settings, context: WorkerContext, kwargs: dict[str, str]
) -> None:
    app = make_celery(worker_settings, context=context)
    task = app.tasks["osteoalert.evaluate_patient"]
    signature = task.s(**kwargs)
    assert signature.kwargs == kwargs
    app.tasks["osteoalert.check_subscriptions"].apply_async()  # nothing known yet: a no-op round
    assert context.failures.failure_count() == 0
