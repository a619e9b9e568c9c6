"""What every synthetic patient has besides its archetype: ordinary problems and medications the
rules never read, and now and then a record the rules must ignore (a result that is not final, a
refuted diagnosis, a cancelled order). None of it may change a patient's findings.
"""

from __future__ import annotations

from service.synth.chart import Chart
from service.synth.values import u

_PROBLEMS = ("I10", "38341003", "E78.5", "E11.9", "44054006", "M17.11", "F32.9", "K21.9")
# (ingredient, mg, doses a day, route)
_MEDICINES = (
    ("lisinopril", 10, 1, "oral"), ("lisinopril", 20, 1, "oral"), ("atorvastatin", 40, 1, "oral"),
    ("metformin", 500, 2, "oral"), ("amlodipine", 5, 1, "oral"), ("sertraline", 50, 1, "oral"),
    ("simvastatin", 20, 1, "oral"), ("albuterol", 0.2, 4, "inhaled"),
)  # fmt: skip
# Abnormal values that would raise a finding if a non-final result were read (RULES.md 1.2).
_VOID = (("CA", 12.6), ("PTH", 150.0), ("VITD", 8.0), ("MG", 0.9), ("TSH", 0.03), ("EGFR", 25.0))


def add_background(c: Chart) -> None:
    r = c.rng
    for _ in range(r.randint(1, 5)):  # visits over the past three years
        c.vitals(r.uniform(1, 1100))
    if c.age < 18:
        if r.random() < 0.2:
            c.condition("J45.909")
        return
    for code in r.sample(_PROBLEMS, r.choice((0, 1, 1, 2, 3))):
        c.condition(code, clinical="active" if r.random() < 0.85 else "resolved")
    for drug, dose, per_day, route in r.sample(_MEDICINES, r.choice((0, 0, 1, 2, 3))):
        if r.random() < 0.8:
            c.med(drug, r.uniform(30, 2000), dose_mg=dose, per_day=per_day, route=route)
        else:
            start = r.uniform(400, 2000)
            c.med(drug, start, dose_mg=dose, per_day=per_day, route=route, status="completed",
                  ended_days_ago=start - r.uniform(30, 360))  # fmt: skip
    roll = r.random()
    if roll < 0.12:
        name, value = r.choice(_VOID)
        c.void_lab(name, value * r.uniform(0.9, 1.1), r.uniform(1, 60))
    elif roll < 0.15:  # a ruled-out diagnosis that would qualify for a DXA reminder
        c.condition(r.choice(("E24.9", "K90.0")), clinical="inactive", verification="refuted")
    elif roll < 0.18:  # an order that was never given
        status = r.choice(("cancelled", "entered-in-error"))
        c.med("prednisone", r.uniform(120, 400), dose_mg=u(r, (10, 40), 0), status=status,
              statement=False)  # fmt: skip
