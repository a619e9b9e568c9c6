"""Structured logs: one JSON object per line on stderr, PHI-safe by construction and by filter.

First line of defence: osteoalert's code logs ids, rule ids, counts and timings, never tokens, names,
identifiers, values or resource bodies (tests/observability/test_phi_in_logs.py runs the vignettes
through every path at DEBUG and looks for them). Second line, here, for what a library or a future
change might emit:

* `RedactionFilter` (on the handler, so it sees every record that reaches it, whatever its logger):
  merges the arguments into the message and scrubs it (bearer tokens, JWTs, URL credentials, query
  strings, anything that looks like a FHIR resource body), and drops every record attribute that is
  neither a standard `LogRecord` field nor in `ALLOWED_FIELDS` (what a caller passed in `extra=`).
* `JsonFormatter` writes only known keys, and renders an exception as its type and its frames (file,
  line, function): an exception's message can carry the input that caused it, so it is never written.

Each line carries the request id (HTTP) or task id (Celery) of the work it belongs to, from context
variables set by the HTTP middleware and the worker.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import traceback
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Final, Literal

import orjson

LogFormat = Literal["json", "text"]

REQUEST_ID: ContextVar[str | None] = ContextVar("osteoalert_request_id", default=None)
TASK_ID: ContextVar[str | None] = ContextVar("osteoalert_task_id", default=None)

# Structured fields our events may carry (logger.info(..., extra={...})); anything else is dropped.
ALLOWED_FIELDS: Final = frozenset(
    {
        "event", "request_id", "task_id", "task", "method", "route", "status", "duration_ms",
        "service", "outcome", "attempts", "kind", "count", "rule_ids",
    }
)  # fmt: skip
# The attributes every LogRecord has (Python 3.11/3.12), which formatters and handlers rely on.
STANDARD_ATTRIBUTES: Final = frozenset(
    {
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
        "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
        "threadName", "processName", "process", "taskName", "message", "asctime",
    }
)  # fmt: skip
# Libraries that log DATA once their level is enabled, whatever our code does: SQLAlchemy's engine
# writes every statement WITH its parameters (alert payloads carry values) as soon as INFO is on;
# kombu's and httpcore's debug lines can carry message bodies and headers. They are capped here.
CAPPED_LOGGERS: Final = {"sqlalchemy": logging.WARNING, "kombu": logging.INFO, "httpcore": logging.INFO}
MAX_MESSAGE_CHARS: Final = 2000
MAX_FRAMES: Final = 25
MARKER: Final = "_osteoalert_handler"

_SCRUBS: Final = (
    (re.compile(r"(?i)\bbearer\s+[^\s,;\"']+"), "Bearer [redacted]"),
    (re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"), "[jwt redacted]"),
    (
        re.compile(r"(?i)\b(\w*(?:authorization|token|secret|password|passwd|api[_-]?key))(\s*[=:]\s*)[^\s,;&\"']+"),
        r"\1\2[redacted]",
    ),
    (re.compile(r"(://)[^/\s:@]*:[^/\s@]*@"), r"\1[redacted]@"),  # user:password@ in URLs
    # Search parameters name patients, identifiers and codes.
    (re.compile(r"\?(?=[\w.\-]+=)[^\s\"'#]*"), "?[query redacted]"),
)  # fmt: skip
_RESOURCE_BODY: Final = re.compile(r"[\"']resourceType[\"']\s*:")


def scrub(message: str) -> str:
    """`message` without secrets, query strings or resource bodies, and at most MAX_MESSAGE_CHARS long."""
    if _RESOURCE_BODY.search(message):
        return "[message dropped: it contained a FHIR resource]"
    for pattern, replacement in _SCRUBS:
        message = pattern.sub(replacement, message)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + " [truncated]"
    return message


class RedactionFilter(logging.Filter):
    """The second line of defence (module docstring). Never refuses a record: it cleans it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the event (nor print its arguments)
            message = f"{record.msg} [arguments dropped: they did not fit the format]"
        record.msg = scrub(str(message))
        record.args = None
        record.exc_text = None  # a traceback another handler cached WITH the exception's message
        for key in [k for k in vars(record) if k not in STANDARD_ATTRIBUTES and k not in ALLOWED_FIELDS]:
            delattr(record, key)
        return True


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | frozenset | set):
        return [str(v)[:128] for v in value][:64]
    return scrub(str(value))[:256]


def exception_outline(exc_info: Any) -> tuple[str, list[str]]:
    """The exception's type chain and its frames, without any exception message."""
    _, exc, tb = exc_info
    names: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names.append(type(current).__qualname__)
        current = current.__cause__ or current.__context__
    frames = [f"{f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb)][-MAX_FRAMES:]
    return " <- ".join(names), frames


def _timestamp(record: logging.LogRecord) -> str:
    return (
        datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with only known keys (module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, var in (("request_id", REQUEST_ID), ("task_id", TASK_ID)):
            if (value := var.get()) is not None:
                out[key] = value
        for key in sorted(ALLOWED_FIELDS):
            if key in record.__dict__:
                out[key] = _json_safe(record.__dict__[key])
        if record.exc_info and record.exc_info[0] is not None:
            out["error"], out["stack"] = exception_outline(record.exc_info)
        return orjson.dumps(out).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines (development), with the same redaction and the same exception outline."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{k}={v}" for k, v in (("request", REQUEST_ID.get()), ("task", TASK_ID.get())) if v]
        return f"{line} [{' '.join(ids)}]" if ids else line

    def formatException(self, ei: Any) -> str:  # noqa: N802 - the logging API's name
        names, frames = exception_outline(ei)
        return "\n".join([f"  {names}", *(f"    at {frame}" for frame in frames)])


def configure_logging(
    level: str, fmt: LogFormat = "json", *, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record of the process (the root logger) to `stream` (stderr), redacted.

    Replaces a handler installed by an earlier call, leaves other handlers alone (pytest's, say),
    caps the loggers of CAPPED_LOGGERS, and returns the handler (tests read what it wrote;
    `remove_logging` takes it away).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, MARKER, False)]:
        remove_logging(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactionFilter())
    setattr(handler, MARKER, True)
    root.addHandler(handler)
    root.setLevel(level)
    for name, cap in CAPPED_LOGGERS.items():
        logging.getLogger(name).setLevel(max(cap, logging.getLevelName(level)))
    return handler


def remove_logging(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()


@contextlib.contextmanager
def task_context(task_id: str | None) -> Iterator[None]:
    """Log lines inside carry `task_id`."""
    token = TASK_ID.set(task_id)
    try:
        yield
    finally:
        TASK_ID.reset(token)
