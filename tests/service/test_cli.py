"""`osteoalert evaluate` as a user runs it: a real subprocess, its exit code, stdout and stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "service" / "samples"
AT = "2026-01-15T12:00:00Z"


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def patient(pid: str = "p1") -> dict[str, object]:
    return {"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1960-01-01"}


def bundle(*resources: dict[str, object]) -> bytes:
    entries = [{"resource": r} for r in resources]
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


@pytest.mark.parametrize(
    ("stdin", "args", "expected"),
    [
        (b"{not json", (), "not JSON"),
        (b'{"hello": "world"}', (), "resourceType"),
        (bundle({"resourceType": "Condition", "id": "c1"}), (), "no Patient"),
        (bundle(patient("a"), patient("b")), (), "more than one Patient"),
        (bundle(patient()), ("--at", "yesterday"), "--at"),
    ],
    ids=["not-json", "not-fhir", "no-patient", "two-patients", "bad-date"],
)
def test_bad_input_exits_2_with_one_clear_line_and_no_traceback(
    stdin: bytes, args: tuple[str, ...], expected: str
) -> None:
    proc = run("evaluate", "-", *args, stdin=stdin)
    err = proc.stderr.decode()
    assert proc.returncode == 2
    assert expected.lower() in err.lower()
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 or "usage:" in err
    assert proc.stdout == b""


def test_a_missing_file_exits_2() -> None:
    proc = run("evaluate", "does-not-exist.json")
    assert proc.returncode == 2
    assert "does-not-exist.json" in proc.stderr.decode()


def test_json_output_keeps_the_contract_fields() -> None:
    proc = run("evaluate", str(SAMPLES / "V01.json"), "--at", AT, "--format", "json")
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert out["patient"].startswith("Patient/")
    assert out["hook"] == "patient-view"
    assert out["at"] == AT
    finding = out["findings"][0]
    for key in ("rule_id", "indicator", "summary", "detail", "variant", "evidence", "suggestions"):
        assert key in finding
    for key in ("reference", "value", "unit", "normalised_value", "normalised_unit", "effective"):
        assert key in finding["evidence"][0]


def test_text_output_is_a_readable_table_with_the_rule_and_its_values() -> None:
    proc = run("evaluate", str(SAMPLES / "V01.json"), "--at", AT)
    text = proc.stdout.decode()
    assert proc.returncode == 0
    assert "WARNING  phpt-suspected" in text
    assert "mg/dL" in text


def test_stdin_and_file_give_the_same_result() -> None:
    data = (SAMPLES / "V04.json").read_bytes()
    from_file = run("evaluate", str(SAMPLES / "V04.json"), "--at", AT, "--format", "json")
    from_stdin = run("evaluate", "-", "--at", AT, "--format", "json", stdin=data)
    assert json.loads(from_file.stdout) == json.loads(from_stdin.stdout)


def test_demo_evaluates_every_bundled_sample_as_specified() -> None:
    proc = run("demo", "--no-serve")
    assert proc.returncode == 0, proc.stdout.decode()[-2000:]
    assert "45/45 sample patients" in proc.stdout.decode()


def test_hook_request_turns_a_sample_into_a_cds_hooks_call_with_full_prefetch() -> None:
    proc = run("hook-request", str(SAMPLES / "V23.json"), "--hook", "order-sign", "--at", AT)
    assert proc.returncode == 0, proc.stderr.decode()
    request = json.loads(proc.stdout)
    assert request["hook"] == "order-sign"
    assert request["context"]["patientId"]
    drafts = request["context"]["draftOrders"]["entry"]
    assert [d["resource"]["status"] for d in drafts] == ["draft"]
    for key in ("patient", "observations", "conditions", "medications"):
        assert key in request["prefetch"]
    # --at moves the sample's dates so that its T is now: no observation lies in the future.
    effective = [e["resource"]["effectiveDateTime"] for e in request["prefetch"]["observations"]["entry"]]
    assert max(effective) <= datetime.now(UTC).isoformat()


def test_worker_without_redis_is_refused_with_one_line() -> None:
    proc = run("worker")
    assert proc.returncode == 2
    assert "OSTEOALERT_REDIS_URL" in proc.stderr.decode()


def test_celery_options_reach_celery_after_worker_and_beat() -> None:
    # --help of Celery itself (not ours) proves the options were handed over untouched.
    proc = subprocess.run(
        [sys.executable, "-m", "service.cli", "worker", "--concurrency", "2", "--help"],
        capture_output=True, cwd=ROOT, timeout=120, check=False,
        env={**os.environ, "OSTEOALERT_REDIS_URL": "redis://127.0.0.1:6399/0"},
    )  # fmt: skip
    assert "unrecognized arguments" not in proc.stderr.decode()
    assert b"--concurrency" in proc.stdout
