"""AlertStore contract on SQLite and PostgreSQL: idempotent upserts, replays, retirement, write-back."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from service.adapters.store import SqlAlertStore
from service.ports import AlertKey, NewAlert

T = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
P = "Patient/p1"


def alert(
    rule_id: str = "phpt-suspected", index_key: str = "Observation/ca1", summary: str = "s"
) -> NewAlert:
    return NewAlert(
        rule_id=rule_id,
        indicator="warning",
        summary=summary,
        detail="**Calcium** 11.2 mg/dL",
        index_key=index_key,
        card_uuid=f"uuid-{rule_id}-{index_key}",
        identifier=f"id-{rule_id}-{index_key}",
        evidence=("Observation/ca1", "Observation/pth1"),
        payload={"rule_id": rule_id, "references": [{"label": "AACE", "url": "https://example.org"}]},
    )


def rule_ids(store: SqlAlertStore, patient: str = P) -> list[str]:
    return [a.rule_id for a in store.for_patient(patient)]


def test_upserted_alerts_are_served_for_the_patient_as_stored(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    stored = store.upsert(P, [alert("phpt-suspected"), alert("vitd-deficiency", "Observation/vd1")], T)
    assert [(a.rule_id, a.status) for a in stored] == [("phpt-suspected", "new"), ("vitd-deficiency", "new")]
    served = store.for_patient(P)
    assert served == stored
    first = served[0]
    assert first.evidence == ("Observation/ca1", "Observation/pth1")
    assert first.payload["references"] == [{"label": "AACE", "url": "https://example.org"}]
    assert (first.created_at, first.updated_at, first.created_at.tzinfo) == (T, T, UTC)
    assert (first.card_uuid, first.identifier) == (
        "uuid-phpt-suspected-Observation/ca1",
        "id-phpt-suspected-Observation/ca1",
    )
    assert store.for_patient("Patient/other") == ()


def test_a_replayed_evaluation_keeps_one_row_and_its_write_back_status(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    (first,) = store.upsert(P, [alert()], T)
    assert store.mark_written(first.key, at=T + timedelta(minutes=1))
    (again,) = store.upsert(P, [alert()], T)
    (later,) = store.upsert(P, [alert()], T + timedelta(hours=1))
    assert (again.status, later.status) == ("written", "written")
    assert later.created_at == T
    assert len(store.for_patient(P)) == 1


def test_the_same_key_twice_in_one_evaluation_is_one_alert(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    stored = store.upsert(P, [alert(summary="first"), alert(summary="second")], T)
    assert [a.summary for a in stored] == ["second"]
    assert len(store.for_patient(P)) == 1


def test_another_index_key_of_the_same_rule_is_another_alert(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    store.upsert(P, [alert(index_key="Observation/ca1")], T)
    stored = store.upsert(P, [alert(index_key="Observation/ca1"), alert(index_key="Observation/ca2")], T)
    assert [a.index_key for a in stored] == ["Observation/ca1", "Observation/ca2"]


def test_a_newer_evaluation_updates_the_content_but_not_the_creation(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    store.upsert(P, [alert(summary="old")], T)
    (updated,) = store.upsert(P, [alert(summary="new")], T + timedelta(days=1))
    assert (updated.summary, updated.created_at, updated.updated_at) == ("new", T, T + timedelta(days=1))


def test_alerts_a_later_evaluation_no_longer_finds_are_retired_and_not_served(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    store.upsert(P, [alert("phpt-suspected"), alert("vitd-deficiency", "Observation/vd1")], T)
    store.upsert(P, [alert("vitd-deficiency", "Observation/vd1")], T + timedelta(hours=1))
    assert rule_ids(store) == ["vitd-deficiency"]
    store.upsert(P, [], T + timedelta(hours=2))
    assert rule_ids(store) == []


def test_a_finding_that_returns_is_served_again_with_its_write_back_status(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    (first,) = store.upsert(P, [alert()], T)
    store.mark_written(first.key, at=T)
    store.upsert(P, [], T + timedelta(hours=1))
    (back,) = store.upsert(P, [alert()], T + timedelta(hours=2))
    assert (back.status, back.retired_at) == ("written", None)
    assert rule_ids(store) == ["phpt-suspected"]


def test_an_older_evaluation_arriving_late_changes_nothing(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    store.upsert(P, [alert(summary="t1"), alert("vitd-deficiency", "Observation/vd1")], T)
    store.upsert(P, [alert(summary="t3")], T + timedelta(hours=3))  # retires vitd-deficiency
    (late,) = store.upsert(P, [alert(summary="t2"), alert("vitd-deficiency", "Observation/vd1")], T)[:1]
    assert late.summary == "t3"
    assert [(a.rule_id, a.summary) for a in store.for_patient(P)] == [("phpt-suspected", "t3")]
    store.upsert(P, [], T + timedelta(hours=1))  # older than the t3 evaluation: retires nothing
    assert rule_ids(store) == ["phpt-suspected"]


def test_evaluating_one_patient_never_retires_another_patients_alerts(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    store.upsert("Patient/a", [alert()], T)
    store.upsert("Patient/b", [], T + timedelta(hours=1))
    assert rule_ids(store, "Patient/a") == ["phpt-suspected"]


def test_a_failed_write_back_is_listed_with_its_reason_until_it_succeeds(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    (a, b) = store.upsert(P, [alert("phpt-suspected"), alert("vitd-deficiency", "Observation/vd1")], T)
    assert store.mark_failed(a.key, "HTTP 422 from the FHIR server", at=T + timedelta(minutes=1))
    (failed,) = store.failed()
    assert (failed.key, failed.status, failed.failure_reason) == (
        a.key,
        "failed",
        "HTTP 422 from the FHIR server",
    )
    assert failed.updated_at == T + timedelta(minutes=1)
    assert store.mark_written(a.key, at=T + timedelta(minutes=2))
    assert store.failed() == ()
    assert {x.rule_id: (x.status, x.failure_reason) for x in store.for_patient(P)} == {
        "phpt-suspected": ("written", None),
        "vitd-deficiency": ("new", None),
    }
    assert b.status == "new"


def test_a_late_failure_report_never_undoes_a_successful_write_back(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    (a,) = store.upsert(P, [alert()], T)
    store.mark_written(a.key, at=T)
    assert store.mark_failed(a.key, "timeout", at=T + timedelta(minutes=1)) is False
    assert store.for_patient(P)[0].status == "written"
    assert store.failed() == ()


def test_marking_an_unknown_alert_reports_false(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    unknown = AlertKey(P, "phpt-suspected", "Observation/none")
    assert store.mark_written(unknown, at=T) is False
    assert store.mark_failed(unknown, "x", at=T) is False


def test_concurrent_evaluations_of_one_patient_keep_one_row_per_alert(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    batch = [alert("phpt-suspected"), alert("vitd-deficiency", "Observation/vd1")]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: store.upsert(P, batch, T + timedelta(seconds=i % 3)), range(16)))
    assert all(len(r) == 2 for r in results)
    assert rule_ids(store) == ["phpt-suspected", "vitd-deficiency"]


def test_the_store_refuses_naive_datetimes(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    naive = datetime(2026, 1, 15, 12, 0)  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone"):
        store.upsert(P, [alert()], naive)
    assert store.for_patient(P) == ()


def test_payload_and_evidence_are_copied_not_shared(engine: Engine) -> None:
    store = SqlAlertStore(engine)
    original = alert()
    (stored,) = store.upsert(P, [replace(original, evidence=())], T)
    assert stored.evidence == ()
    assert stored.payload == original.payload
    assert stored.payload is not original.payload
