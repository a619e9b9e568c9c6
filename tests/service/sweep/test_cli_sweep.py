"""`osteoalert sweep` as a user runs it: exit codes, the one-line summary, the progress bar."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.sweep.command import TerminalProgress
from tests.service.sweep.population import samples_folder

ROOT = Path(__file__).resolve().parents[3]
AT = "2026-01-15T12:00:00Z"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    unset = ("OSTEOALERT_REDIS_URL", "OSTEOALERT_FHIR_BASE_URL")  # the embedded default, no EHR
    env = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "sweep", *args],
        capture_output=True, cwd=ROOT, timeout=300, check=False, text=True, env=env,
    )  # fmt: skip


def test_a_sweep_writes_its_outputs_and_says_so_in_one_line(tmp_path: Path) -> None:
    folder = samples_folder(tmp_path / "in", gz=True)
    done = run(str(folder), "--out", str(tmp_path / "out"), "--at", AT, "--workers", "2", "--shards", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("osteoalert sweep: swept 45 patients in ")
    assert "findings for" in lines[0] and str(tmp_path / "out") in lines[0]
    assert done.stderr == ""  # no progress bar when stderr is not a terminal
    names = {p.name for p in (tmp_path / "out").iterdir()}
    expected = {"worklist.csv", "findings.ndjson", "problems.ndjson", "measure_report.json", "report.html"}
    assert names == expected | {"summary.json"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give a SOURCE_DIR or --export URL"),
        (("somewhere", "--export", "https://ehr.example/fhir"), "give a SOURCE_DIR or --export URL"),
        (("somewhere", "--since", "auto"), "--since goes with --export"),
        (("does-not-exist",), "not a folder"),
        (("somewhere", "--write-back"), "needs OSTEOALERT_FHIR_BASE_URL"),
    ],
)
def test_bad_usage_is_one_clear_line_and_exit_code_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = run(*args, "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_work_folder_that_is_not_ours_is_never_emptied(tmp_path: Path) -> None:
    folder = samples_folder(tmp_path / "in")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    done = run(str(folder), "--out", str(tmp_path / "out"), "--work-dir", str(precious), "--workers", "1")
    assert done.returncode == 2 and "not made by a sweep" in done.stderr
    assert (precious / "keep.txt").read_text() == "mine"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_shows_on_a_terminal_only() -> None:
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        progress = TerminalProgress(stream)
        progress("partition", 1, 2)
        progress("partition", 2, 2)
        progress("evaluate", 3, 4)
        progress.close()
    assert pipe.getvalue() == ""
    shown = terminal.getvalue()
    assert "partition" in shown and "2/2" in shown and "evaluate" in shown and "3/4" in shown
    assert shown.endswith("\n")
