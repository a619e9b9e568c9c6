"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """../shared/fixtures (public FHIR data, read-only); tests that need it skip LOUDLY without it."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(reason=f"LOUD SKIP: shared FHIR fixtures not found at {SHARED_FIXTURES}")
    return SHARED_FIXTURES
