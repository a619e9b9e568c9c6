"""Log capture for the observability tests: the JSON handler of `configure_logging` at DEBUG on a
buffer, next to pytest's caplog; restored afterwards."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest

from service.observability.logging import configure_logging, remove_logging


@dataclass
class CapturedLogs:
    caplog: pytest.LogCaptureFixture
    stream: io.StringIO

    def json_lines(self) -> list[dict[str, object]]:
        lines = [orjson.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]
        assert all(isinstance(line, dict) for line in lines)
        return lines

    def texts(self) -> list[str]:
        """Everything written: each raw record's message (caplog: what our code asked to log, before
        redaction) and each line of the JSON handler (what reaches the log collector)."""
        return [r.getMessage() for r in self.caplog.records] + self.stream.getvalue().splitlines()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[CapturedLogs]:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    caplog.set_level(logging.DEBUG)
    handler = configure_logging("DEBUG", "json", stream=stream)
    try:
        yield CapturedLogs(caplog, stream)
    finally:
        remove_logging(handler)
        root.setLevel(level)
