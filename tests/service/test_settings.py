"""Settings: every OSTEOALERT_* variable is in deploy/env.example; overrides reach the rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "env.example"


def test_env_example_lists_exactly_the_settings() -> None:
    documented = set(re.findall(r"^(OSTEOALERT_[A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    expected = {f"OSTEOALERT_{name.upper()}" for name in Settings.model_fields}
    assert documented == expected


def test_rule_params_from_the_environment_override_the_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OSTEOALERT_RULE_PARAMS", '{"CA_WINDOW": 60, "range_ca_total": [8.5, 10.4]}')
    params = Settings().parameters()
    assert params.ca_window_days == 60
    assert params.range_ca_total.high == 10.4


def test_rule_params_file_applies_before_inline_overrides(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text("VITD_DEFICIENT = 25\nCA_WINDOW = 30\n")
    params = Settings(rule_params_file=path, rule_params={"CA_WINDOW": 45}).parameters()
    assert (params.vitd_deficient, params.ca_window_days) == (25.0, 45)


def test_an_unknown_rule_parameter_is_an_error_not_a_silent_default() -> None:
    with pytest.raises(KeyError, match="CA_WINDOWS"):
        Settings(rule_params={"CA_WINDOWS": 60}).parameters()


def test_an_unknown_log_level_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(log_level="LOUD")
