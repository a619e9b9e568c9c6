"""Randomised values for the archetypes, in canonical units, with margins around every threshold.

Values are drawn from bands that stay on one side of a threshold by more than the error the
unit conversions and rounding of `Chart` add (calcium 0.05 mg/dL, PTH 0.5 pg/mL, 25-OH D 0.5 ng/mL)
and of both the default range and the lab ranges of `codes.LABS` (calcium ULN 10.2 and 10.5 mg/dL):
a "high" calcium is ≥ 10.7 mg/dL albumin-corrected, a "normal" one 9.0-9.9, a "low" one ≤ 8.3.
"""

from __future__ import annotations

import random

from service.synth.chart import Chart

NORMAL_CA = (9.0, 9.9)  # albumin-corrected, mg/dL
HIGH_CA = (10.7, 11.8)
VITD_OK = (32.0, 65.0)  # ng/mL: above the 30 ng/mL bone-context target
PTH_HIGH = (75.0, 160.0)  # pg/mL: above the 65 pg/mL ULN
PTH_SUPPRESSED = (3.0, 15.0)  # below the 20 pg/mL split
PTH_NOT_SUPPRESSED = (28.0, 180.0)


def u(rng: random.Random, band: tuple[float, float], decimals: int = 1) -> float:
    return round(rng.uniform(*band), decimals)


def calcium(
    rng: random.Random, band: tuple[float, float], albumin: tuple[float, float] = (3.6, 4.6)
) -> dict[str, float]:
    """Total calcium and its albumin (same draw) whose Payne-corrected value lies in `band`."""
    alb = round(rng.uniform(*albumin), 1)
    corrected = rng.uniform(*band)
    return {"CA": corrected - 0.8 * (4.0 - alb), "ALB": alb}


def creatinine_for(egfr: float, age: int, female: bool) -> float:
    """The serum creatinine (mg/dL) that gives `egfr` by CKD-EPI 2021 (RULES.md 3.5, inverted)."""
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    base = egfr / (142 * 0.9938**age * (1.012 if female else 1.0))
    ratio = base ** (1 / alpha) if base >= 1 else base ** (-1 / 1.2)
    return float(kappa * ratio)


def kidney(c: Chart, egfr: float) -> dict[str, float]:
    """eGFR with, most of the time, the creatinine it was computed from."""
    values = {"EGFR": egfr}
    if c.rng.random() < 0.7:
        values["CREAT"] = creatinine_for(egfr, c.age, c.sex == "female")
    return values


def normal_egfr(c: Chart) -> float:
    return round(c.rng.uniform(62, max(72.0, 125.0 - c.age)))


def complete_workup(c: Chart, days_ago: float) -> None:
    """The secondary-cause labs of RULES.md C1, all normal: Ca + albumin, PO4, eGFR, 25-OH D."""
    r = c.rng
    c.draw(
        days_ago, **calcium(r, NORMAL_CA), PO4=u(r, (2.8, 4.2)), **kidney(c, normal_egfr(c)),
        VITD=u(r, VITD_OK, 0),
    )  # fmt: skip


def routine_draws(c: Chart, *, vitd: bool = True) -> None:
    """Zero to three normal check-up panels over the past years (a population's usual data)."""
    r = c.rng
    for _ in range(r.choice((0, 1, 1, 2, 3))):
        days = r.uniform(20, 1500)
        values = calcium(r, NORMAL_CA) | kidney(c, normal_egfr(c))
        if r.random() < 0.4:
            values["PO4"] = u(r, (2.8, 4.2))
        if r.random() < 0.3:
            values["MG"] = u(r, (1.8, 2.2))
        if r.random() < 0.3:
            values["TSH"] = u(r, (0.6, 3.8), 2)
        if vitd and r.random() < 0.3:
            values["VITD"] = u(r, VITD_OK, 0)
        c.draw(days, **values)
        if r.random() < 0.5:
            c.other_labs(days, r.randint(1, 4))
