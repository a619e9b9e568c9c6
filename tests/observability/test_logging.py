"""Structured logs: one JSON object per line with known keys only; the redaction filter (the second
line of defence); one event per HTTP request carrying its request id."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import httpx
import orjson
import pytest

from service.observability.logging import (
    ALLOWED_FIELDS,
    CAPPED_LOGGERS,
    REQUEST_ID,
    configure_logging,
    remove_logging,
    scrub,
    task_context,
)
from service.settings import Settings
from tests.observability.conftest import CapturedLogs
from tests.service.api.ehr import serving

JWT = "eyJhbGciOiJSUzM4NCJ9.eyJpc3MiOiJodHRwczovL2VociJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("message", "gone", "kept"),
    [
        ("call with Authorization: Bearer abc.def-123 failed", "abc.def-123", "failed"),
        (f"token {JWT} refused", JWT, "refused"),
        ("GET https://ehr/Observation?patient=p1&code=17861-6 200", "patient=p1", "https://ehr/Observation"),
        ("connect redis://:s3cret@redis:6379/0 failed", "s3cret", "redis:6379/0"),
        ("client_secret=hunter2 rejected", "hunter2", "rejected"),
        ('body {"resourceType": "Patient", "name": [{"family": "X"}]}', '"family"', "message dropped"),
        ("what? nothing to redact here", "[redacted]", "what? nothing to redact here"),
    ],
)
def test_scrub_removes_secrets_queries_and_resource_bodies(message: str, gone: str, kept: str) -> None:
    cleaned = scrub(message)
    assert gone not in cleaned
    assert kept in cleaned


def test_a_very_long_message_is_truncated() -> None:
    assert len(scrub("x" * 10_000)) < 2100


def test_each_record_is_one_json_object_with_known_keys_only(logs: CapturedLogs) -> None:
    log = logging.getLogger("osteoalert.test")
    log.info(
        "evaluated %s rules", 3,
        extra={"event": "unit", "outcome": "ok", "patient_name": "Jane Roe", "birthDate": "1960-01-01"},
    )  # fmt: skip
    (line,) = [line for line in logs.json_lines() if line["logger"] == "osteoalert.test"]
    assert line["message"] == "evaluated 3 rules"
    assert line["level"] == "info"
    assert (line["event"], line["outcome"]) == ("unit", "ok")
    assert set(line) <= {"ts", "level", "logger", "message", "error", "stack"} | ALLOWED_FIELDS
    assert "Jane Roe" not in logs.stream.getvalue()
    assert "1960-01-01" not in logs.stream.getvalue()


def test_an_exception_is_written_as_its_type_and_frames_never_its_message(logs: CapturedLogs) -> None:
    try:
        try:
            raise KeyError("Jane Roe")
        except KeyError as exc:
            raise ValueError("birthDate 1960-01-01 is invalid") from exc
    except ValueError:
        logging.getLogger("osteoalert.test").exception("decoding failed")
    (line,) = [line for line in logs.json_lines() if line["logger"] == "osteoalert.test"]
    assert line["error"] == "ValueError <- KeyError"
    assert isinstance(line["stack"], list) and any("test_logging.py" in frame for frame in line["stack"])
    assert "Jane Roe" not in logs.stream.getvalue()
    assert "1960-01-01" not in logs.stream.getvalue()


def test_a_format_string_that_does_not_fit_its_arguments_loses_the_arguments_not_the_event(
    logs: CapturedLogs,
) -> None:
    logging.getLogger("osteoalert.test").warning("two %s %s", "Jane Roe")  # noqa: PLE1206 - on purpose
    (line,) = [line for line in logs.json_lines() if line["logger"] == "osteoalert.test"]
    assert "arguments dropped" in str(line["message"])
    assert "Jane Roe" not in logs.stream.getvalue()


def test_task_and_request_ids_are_on_every_line_logged_in_their_context(logs: CapturedLogs) -> None:
    log = logging.getLogger("osteoalert.test")
    with task_context("task-42"):
        log.info("in a task")
    token = REQUEST_ID.set("req-7")
    try:
        log.info("in a request")
    finally:
        REQUEST_ID.reset(token)
    log.info("outside")
    lines = {str(line["message"]): line for line in logs.json_lines() if line["logger"] == "osteoalert.test"}
    assert lines["in a task"]["task_id"] == "task-42"
    assert lines["in a request"]["request_id"] == "req-7"
    assert "task_id" not in lines["outside"] and "request_id" not in lines["outside"]


def test_libraries_that_log_data_are_capped_even_at_debug() -> None:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", "json", stream=stream)
    try:
        for name, cap in CAPPED_LOGGERS.items():
            assert logging.getLogger(name).getEffectiveLevel() >= cap
        logging.getLogger("sqlalchemy.engine.Engine").info("INSERT ... [parameters: ('Jane Roe',)]")
        assert "Jane Roe" not in stream.getvalue()
    finally:
        remove_logging(handler)


def test_text_format_is_redacted_too() -> None:
    stream = io.StringIO()
    handler = configure_logging("INFO", "text", stream=stream)
    try:
        logging.getLogger("osteoalert.test").info("GET http://ehr/Patient?identifier=MRN-1 with Bearer abc")
        try:
            raise ValueError("Jane Roe")
        except ValueError:
            logging.getLogger("osteoalert.test").exception("failed")
    finally:
        remove_logging(handler)
    text = stream.getvalue()
    assert "MRN-1" not in text and "Bearer abc" not in text and "Jane Roe" not in text
    assert "ValueError" in text


def test_configuring_twice_replaces_our_handler_and_keeps_the_others() -> None:
    root = logging.getLogger()
    others = list(root.handlers)
    first = configure_logging("INFO", "json", stream=io.StringIO())
    second = configure_logging("INFO", "json", stream=io.StringIO())
    try:
        assert first not in root.handlers
        assert second in root.handlers
        assert all(h in root.handlers for h in others)
    finally:
        remove_logging(second)


async def test_each_request_is_one_event_with_its_request_id_route_status_and_duration(
    logs: CapturedLogs, tmp_path: Path
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'o.db'}")
    async with serving(settings) as (_, client):
        given = await client.get("/cds-services", headers={"X-Request-ID": "abc-123"})
        forged = await client.post("/cds-services/unknown", headers={"X-Request-ID": "bad id\nforged"})
        probe = await client.get("/healthz")
    assert given.headers["x-request-id"] == "abc-123"
    assert forged.headers["x-request-id"] != "bad id\nforged" and len(forged.headers["x-request-id"]) == 32
    events = [line for line in logs.json_lines() if line.get("event") == "http.request"]
    by_id = {line["request_id"]: line for line in events}
    assert by_id["abc-123"] | {"duration_ms": 0} == {
        **by_id["abc-123"], "method": "GET", "route": "/cds-services", "status": 200, "duration_ms": 0,
    }  # fmt: skip
    assert by_id[forged.headers["x-request-id"]]["route"] == "/cds-services/{service_id}"
    assert by_id[forged.headers["x-request-id"]]["status"] == 404
    assert by_id[probe.headers["x-request-id"]]["level"] == "debug"  # probes and scrapes stay quiet
    assert len([e for e in events if e["request_id"] == "abc-123"]) == 1
    assert isinstance(by_id["abc-123"]["duration_ms"], float)
    assert orjson.dumps(events)  # every line is plain JSON
    assert given.status_code == httpx.codes.OK
