"""The generator's value helpers agree with the engine's own arithmetic (RULES.md 3.2, 3.5)."""

from __future__ import annotations

import random

import pytest

from rules.facts import ckd_epi_2021
from service.synth.values import HIGH_CA, NORMAL_CA, calcium, creatinine_for


@pytest.mark.parametrize("egfr", [5, 15, 29, 44, 59, 60, 90, 120])
@pytest.mark.parametrize(("age", "sex"), [(25, "female"), (25, "male"), (80, "female"), (80, "male")])
def test_creatinine_for_gives_back_the_egfr_by_ckd_epi_2021(egfr: float, age: int, sex: str) -> None:
    scr = creatinine_for(egfr, age, sex == "female")
    assert ckd_epi_2021(scr, age, sex) == pytest.approx(egfr, rel=1e-9)


@pytest.mark.parametrize("band", [NORMAL_CA, HIGH_CA, (6.6, 7.3)])
def test_calcium_gives_a_total_whose_payne_corrected_value_is_in_the_band(band: tuple[float, float]) -> None:
    rng = random.Random(7)  # noqa: S311 (test data)
    for _ in range(200):
        values = calcium(rng, band, albumin=(2.3, 4.6))
        corrected = values["CA"] + 0.8 * (4.0 - values["ALB"])
        assert band[0] <= corrected <= band[1]
