"""Patients with nothing to find: the plain majority, and traps where a careless reading of the
data would raise a finding (RULES.md 1.1 adult gate and deceased, 1.2 statuses and windows, 2.4
routes and doses, 3.2 albumin correction). Every one of them must give no finding at all.
"""

from __future__ import annotations

from service.synth.archetypes_mineral import person
from service.synth.chart import Chart
from service.synth.codes import DXA_PROCEDURES
from service.synth.registry import archetype
from service.synth.values import HIGH_CA, NORMAL_CA, calcium, routine_draws, u


@archetype("nothing-to-find", "Adult with ordinary data and nothing to find", 50.0, {})
def nothing(c: Chart) -> None:
    r = c.rng
    sex = "female" if r.random() < 0.52 else "male"
    age = r.randint(18, 95) if r.random() < 0.5 else r.randint(18, 64)
    c.patient(age, sex)
    screened = sex == "female" and (age >= 65 or (age >= 50 and r.random() < 0.3))
    if screened:  # a normal DXA (or a scan with no scores on file): nothing is due
        days = r.uniform(60, 3000)
        if r.random() < 0.8:
            c.dxa(days, T_LS=u(r, (-0.8, 1.5)), T_TH=u(r, (-0.8, 1.5)), T_FN=u(r, (-0.8, 1.2)))
        else:
            c.procedure(r.choice(DXA_PROCEDURES), days)
    routine_draws(c)


@archetype("trap-pediatric", "Child with abnormal calcium and vitamin D (adult gate)", 1.5, {})
def pediatric(c: Chart) -> None:
    r = c.rng
    c.patient(r.randint(6, 17), r.choice(("female", "male")))
    c.draw(r.uniform(3, 60), **calcium(r, (10.8, 11.5)), VITD=u(r, (8, 15)))


@archetype("trap-deceased", "Deceased patient with hypercalcaemia and osteoporosis", 1.0, {})
def deceased(c: Chart) -> None:
    r = c.rng
    died = r.uniform(5, 60)
    if r.random() < 0.7:
        c.patient(r.randint(60, 95), r.choice(("female", "male")), deceased_days=died)
    else:
        c.patient(r.randint(60, 95), r.choice(("female", "male")), deceased_flag=True)
    c.draw(died + r.uniform(1, 20), **calcium(r, HIGH_CA))
    c.condition("M81.0")


@archetype("trap-low-albumin", "Low total calcium explained by low albumin", 1.0, {}, "V07")
def low_albumin(c: Chart) -> None:
    r = c.rng
    person(c, female=(30, 64), male=(50, 85), share=0.4)
    c.draw(r.uniform(1, 20), **calcium(r, (9.0, 9.8), albumin=(2.3, 2.9)))


@archetype("trap-entered-in-error", "High calcium entered in error, valid calcium normal", 1.0, {},
           "V16")  # fmt: skip
def entered_in_error(c: Chart) -> None:
    r = c.rng
    person(c, female=(30, 64), male=(30, 85), share=0.6)
    c.void_lab("CA", u(r, (11.0, 13.0)), r.uniform(2, 6))
    c.draw(r.uniform(20, 60), **calcium(r, NORMAL_CA))


@archetype("trap-stale-hypercalcemia", "High calcium only 4-11 months ago, no PTH", 1.0, {}, "V18")
def stale(c: Chart) -> None:
    r = c.rng
    person(c, female=(30, 64), male=(30, 85), share=0.6)
    c.draw(r.uniform(120, 330), **calcium(r, (10.8, 11.8)))


@archetype("trap-glucocorticoid-below-threshold",
           "Inhaled budesonide and prednisone below 2.5 mg/day", 1.0, {}, "V21")  # fmt: skip
def gc_below(c: Chart) -> None:
    r = c.rng
    person(c, female=(30, 64), male=(30, 85), share=0.4)
    c.med("budesonide", r.uniform(120, 900), dose_mg=r.choice((0.4, 0.8)), per_day=1, route="inhaled")
    c.med("prednisone", r.uniform(120, 600), dose_mg=r.choice((1, 2)))
