"""No patient data in the logs, on every path, at DEBUG.

The 45 vignettes, each with a distinctive name, identifier value, birth date and nudged lab values
(tests/observability/phi.py), go through: the CLI (`osteoalert evaluate`), the CDS Hooks services
over HTTP (full prefetch, and prefetch fetched from a respx-mocked FHIR server with an access token)
with feedback, the notification endpoint with the embedded dispatcher evaluating and writing back,
eager Celery tasks (successes, a retry, a permanent failure) against the FHIR test double, and a
sweep with write-back. Logging is at DEBUG: pytest's caplog holds every record as our code and the
libraries emitted it, the JSON handler of `configure_logging` what reaches a collector. Neither may
contain a name, birth date, identifier value or lab value, nor a token.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
import respx

from rules.windows import fmt_num
from service import cli
from service.adapters.codesets import load_codesets
from service.evaluation import Engine
from service.notify import TASK_EVALUATE_PATIENT
from service.settings import Settings
from service.sweep.command import SweepRequest, run_sweep_command
from tests.builders import T
from tests.fhir_double import FhirDouble, serve_in_thread
from tests.observability.conftest import CapturedLogs
from tests.observability.phi import FAMILY, Enriched, enriched_vignettes, leaks
from tests.service.api.ehr import ACCESS_TOKEN, FHIR_BASE, FhirServer, by_type, full_prefetch, hook_request
from tests.service.api.ehr import serving as serving_app
from tests.service.sweep.population import write_folder
from worker.celery_app import make_celery
from worker.context import WorkerContext

AT = "2026-01-15T12:00:00Z"
NOTIFY_TOKEN = "notify-secret-9bq2"
SERVICES = {
    "patient-view": "osteoalert-patient-view",
    "order-select": "osteoalert-order-select",
    "order-sign": "osteoalert-order-sign",
}
PATIENTS = enriched_vignettes()
SECRET_TOKENS = (ACCESS_TOKEN, NOTIFY_TOKEN)


def assert_no_phi(logs: CapturedLogs) -> None:
    texts = logs.texts()
    assert logs.json_lines(), "the path logged nothing: the check would be vacuous"
    found = leaks(texts, PATIENTS, SECRET_TOKENS)
    assert not found, "patient data or a token in the logs:\n" + "\n".join(
        f"{secret!r} in {line[:300]!r}" for secret, line in found[:10]
    )


@pytest.mark.parametrize("kind", ["name", "identifier", "birth date", "raw value", "shown value"])
def test_the_detector_finds_what_it_looks_for(logs: CapturedLogs, kind: str) -> None:
    """The check is not vacuous: each kind of secret, logged by mistake, is found in both captures."""
    patient = next(p for p in PATIENTS if p.resources("Observation"))
    quantity = patient.resources("Observation")[0]["valueQuantity"]
    secret = {
        "name": FAMILY,
        "identifier": patient.resources("Patient")[0]["identifier"][0]["value"],
        "birth date": patient.resources("Patient")[0]["birthDate"],
        "raw value": orjson.dumps(quantity["value"]).decode(),
        "shown value": f"{fmt_num(quantity['value'])} {quantity['unit']}",
    }[kind]
    assert secret in patient.secrets
    logging.getLogger("osteoalert.test").info("oops %s", secret)
    caught = {line for s, line in leaks(logs.texts(), [patient]) if s == secret}
    assert f"oops {secret}" in caught  # caplog: what the code asked to log
    assert any(line.startswith("{") for line in caught)  # the JSON line


def test_the_cli_logs_no_patient_data(
    logs: CapturedLogs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for p in PATIENTS:
        path = tmp_path / f"{p.vignette.id}.json"
        path.write_bytes(orjson.dumps(p.bundle))
        args = ["evaluate", str(path), "--at", AT, "--format", "json", "--hook", p.vignette.hook.value]
        if p.vignette.selections:
            args += ["--selections", ",".join(p.vignette.selections)]
        assert cli.main(args) == 0
    assert capsys.readouterr().out  # the findings went to stdout (they may show values: not a log)
    logging.getLogger("osteoalert.test").debug("cli path done")  # the JSON handler is live
    assert_no_phi(logs)


def _hook_body(p: Enriched, *, fetch: bool) -> bytes:
    resources = by_type(p.bundle)
    drafts = [r for r in resources.get("MedicationRequest", []) if r.get("status") == "draft"]
    request = hook_request(
        p.vignette.hook.value,
        p.patient_id,
        prefetch=None if fetch else full_prefetch(p.bundle),
        fhir_server=FHIR_BASE if fetch else None,
        draft_orders=drafts,
        selections=p.vignette.selections,
    )
    return orjson.dumps(request)


async def test_the_cds_hooks_services_and_feedback_log_no_patient_data(
    logs: CapturedLogs, tmp_path: Path
) -> None:
    cards_seen = 0
    async with serving_app(Settings(database_url=f"sqlite:///{tmp_path / 'o.db'}")) as (_, client):
        for i, p in enumerate(PATIENTS):
            fetch = i % 3 == 0  # a third fetch their data from the EHR's FHIR server (with a token)
            service = SERVICES[p.vignette.hook.value]
            with respx.mock(assert_all_called=False) as ehr:
                FhirServer(p.patient_id, by_type(p.bundle)).mount(ehr)
                response = await client.post(f"/cds-services/{service}", content=_hook_body(p, fetch=fetch))
            assert response.status_code == httpx.codes.OK, response.text
            cards = response.json()["cards"]
            cards_seen += len(cards)
            if cards:
                feedback = {
                    "feedback": [
                        {"card": c["uuid"], "outcome": "overridden" if n % 2 else "accepted",
                         "outcomeTimestamp": "2026-01-15T12:01:00Z"}
                        | ({"overrideReason": {"reason": {"code": "not-relevant",
                            "system": "https://osteoalert.org/override-reasons", "display": "Not relevant"}}}
                           if n % 2 else {})
                        for n, c in enumerate(cards)
                    ]
                }  # fmt: skip
                answer = await client.post(
                    f"/cds-services/{service}/feedback", content=orjson.dumps(feedback)
                )
                assert answer.status_code == httpx.codes.OK, answer.text
    assert cards_seen > 0
    assert_no_phi(logs)


@pytest.fixture
def ehr() -> Iterator[tuple[FhirDouble, str]]:
    double = FhirDouble(page_size=5)
    for p in PATIENTS:
        double.load(p.bundle, prefix=f"{p.vignette.id.lower()}-")
    with serve_in_thread(double) as base_url:
        yield double, base_url


def _settings(tmp_path: Path, base_url: str) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'o.db'}",
        fhir_base_url=base_url,
        notify_token=NOTIFY_TOKEN,
        worker_retry_base_seconds=0.01,
        worker_retry_max_seconds=0.05,
        worker_max_retries=2,
    )


async def test_notifications_and_the_embedded_worker_log_no_patient_data(
    logs: CapturedLogs, tmp_path: Path, ehr: tuple[FhirDouble, str]
) -> None:
    double, base_url = ehr
    headers = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {NOTIFY_TOKEN}"}
    async with serving_app(_settings(tmp_path, base_url), clock=lambda: T) as (app, client):
        for i, p in enumerate(PATIENTS[:12]):
            observation = p.resources("Observation")
            if not observation:
                continue
            focus = f"Observation/{p.vignette.id.lower()}-{observation[0]['id']}"
            number = double.add_event("s1", focus)
            content = "full-resource" if i % 2 else "id-only"  # full-resource carries the Observation
            note = orjson.dumps(double.notification("s1", numbers=(number,), content=content))
            answer = await client.post("/fhir/notify", content=note, headers=headers)
            assert answer.status_code == httpx.codes.OK, answer.text
            assert answer.json()["accepted"] == 1
        refused = await client.post(
            "/fhir/notify", content=b"{}", headers=headers | {"Authorization": "Bearer x"}
        )
        assert refused.status_code == httpx.codes.UNAUTHORIZED
        outbox = app.state.notify.outbox
        async with asyncio.timeout(60):
            while await asyncio.to_thread(outbox.size):
                await asyncio.sleep(0.02)
    assert [w for w in double.writes if w.resource_type == "DetectedIssue"]  # findings were written back
    assert_no_phi(logs)


def test_eager_celery_tasks_log_no_patient_data(
    logs: CapturedLogs, tmp_path: Path, ehr: tuple[FhirDouble, str]
) -> None:
    double, base_url = ehr
    settings = _settings(tmp_path, base_url)
    from service.adapters.store import make_engine, upgrade_to_head  # noqa: PLC0415

    database = make_engine(settings.database_url)
    upgrade_to_head(database)
    database.dispose()
    context = WorkerContext(settings, clock=lambda: T)
    app = make_celery(settings, context=context)
    try:
        evaluate = app.tasks[TASK_EVALUATE_PATIENT]
        double.fail_next(1, status=503, retry_after="0")  # one retry, logged
        for p in PATIENTS:
            evaluate.delay(patient=p.patient_id)
        evaluate.delay(patient="no-such-patient")  # a permanent failure, logged and recorded
    finally:
        context.close()
    outcomes = {
        (s.labels["task"], s.labels["outcome"]): s.value
        for m in context.metrics.tasks.collect() for s in m.samples if s.name.endswith("_total")
    }  # fmt: skip
    assert outcomes[(TASK_EVALUATE_PATIENT, "retried")] == 1
    assert outcomes[(TASK_EVALUATE_PATIENT, "failed")] == 1
    assert outcomes[(TASK_EVALUATE_PATIENT, "succeeded")] == len(PATIENTS)
    assert [w for w in double.writes if w.resource_type == "DetectedIssue"]
    assert_no_phi(logs)


def test_a_sweep_with_write_back_logs_no_patient_data(logs: CapturedLogs, tmp_path: Path) -> None:
    double = FhirDouble()
    folder = write_folder(tmp_path / "in", [e["resource"] for p in PATIENTS for e in p.bundle["entry"]])
    settings = Settings(fhir_base_url="http://ehr.test")  # the double serves FHIR at its root
    codesets = load_codesets()
    engine = Engine(codesets, settings.parameters())
    request = SweepRequest(
        out=tmp_path / "out", at=datetime(2026, 1, 15, 12, tzinfo=UTC), source=folder, workers=1, shards=3,
        write_back=True,
    )  # fmt: skip
    result = run_sweep_command(
        settings, engine, request, stderr=io.StringIO(), transport=httpx.ASGITransport(app=double.app)
    )
    assert result.write_back is not None and result.write_back.created > 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())
    assert_no_phi(logs)
