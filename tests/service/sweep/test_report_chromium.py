"""report.html opens in a real browser (Debian's headless Chromium) without console errors; the test
saves a screenshot of it. Skipped LOUDLY when /usr/bin/chromium is not installed
(`apt-get install -y chromium`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from service.sweep.run import SweepOptions, sweep
from service.sweep.sources import NdjsonSource
from tests.service.sweep.population import SAMPLES_AT, default_engine, samples_folder

CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(reason=f"LOUD SKIP: {CHROMIUM} not found; install Debian's chromium to run this test")
    return CHROMIUM


def render(chromium: Path, page: Path, png: Path, profile: Path) -> list[str]:
    """Screenshot `page`; return the browser's console lines (errors, warnings and logs)."""
    done = subprocess.run(
        [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--enable-logging=stderr", "--v=0", f"--screenshot={png}", "--window-size=1280,2000",
         page.resolve().as_uri()],
        capture_output=True, timeout=120, check=False, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return [line for line in done.stderr.splitlines() if ":CONSOLE" in line]


def test_the_console_check_sees_a_page_error(chromium: Path, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><link rel="icon" href="data:,"><script>notAFunction();</script>')
    console = render(chromium, page, tmp_path / "broken.png", tmp_path / "profile")
    assert any("notAFunction" in line for line in console)


def test_report_html_renders_in_chromium_without_console_errors(chromium: Path, tmp_path: Path) -> None:
    folder = samples_folder(tmp_path / "in")
    out = tmp_path / "out"
    sweep(default_engine(), NdjsonSource.of(folder), SweepOptions(out=out, at=SAMPLES_AT, workers=1))
    screenshot = out / "report.png"
    console = render(chromium, out / "report.html", screenshot, tmp_path / "profile")
    assert console == []
    data = screenshot.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20_000  # a page with charts, not a blank one
    print(f"\nreport screenshot: {screenshot}")  # noqa: T201 - where to look at it
