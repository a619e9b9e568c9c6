"""Archetypes of bone density, medication and CKD findings (RULES.md 5 C and D), modelled on the
section 9 vignettes named in each registration, with randomised values. Only data a population
export holds is written: no draft orders, so the order-hook rules are not represented.
"""

from __future__ import annotations

from service.synth import codes
from service.synth.archetypes_mineral import osteopenic_dxa, person
from service.synth.chart import Chart
from service.synth.registry import archetype
from service.synth.values import (
    NORMAL_CA,
    VITD_OK,
    calcium,
    complete_workup,
    kidney,
    routine_draws,
    u,
)

WARNING, INFO = "warning", "info"
_GC = (
    ("prednisone", 5.0, 20.0, 1.0), ("prednisolone", 5.0, 10.0, 1.0),
    ("methylprednisolone", 4.0, 8.0, 1.0), ("dexamethasone", 0.5, 1.0, 0.25),
)  # fmt: skip


@archetype("gio-bone-assessment-due", "Long-term systemic glucocorticoid, no DXA", 1.5,
           {"gio-bone-assessment-due": INFO}, "V20")  # fmt: skip
def gio(c: Chart) -> None:
    r = c.rng
    person(c, female=(25, 80), male=(25, 80), share=0.5)
    drug, low, high, step = r.choice(_GC)
    dose = round(r.uniform(low, high) / step) * step
    c.med(drug, r.uniform(110, 900), dose_mg=dose)
    if r.random() < 0.4:  # RA; its own DXA reminder is suppressed by the specific GIO card
        c.condition(r.choice(("M06.9", "69896004")))
    routine_draws(c)


@archetype("gio-budesonide", "Oral budesonide 9 mg/d for Crohn's disease (dose equivalence unknown)",
           0.4, {"gio-bone-assessment-due": INFO}, "V44")  # fmt: skip
def gio_budesonide(c: Chart) -> None:
    r = c.rng
    person(c, female=(25, 49), male=(25, 49), share=0.5)
    c.med("budesonide", r.uniform(100, 300), dose_mg=9)
    c.condition(r.choice(("K50.90", "34000006")))


@archetype("ai-adt-bone-assessment-due", "Aromatase inhibitor or androgen deprivation, no DXA", 1.0,
           {"ai-adt-bone-assessment-due": INFO}, "V31")  # fmt: skip
def ai_adt(c: Chart) -> None:
    r = c.rng
    if r.random() < 0.5:
        c.patient(r.randint(55, 85), "male")
        c.condition("C61", onset_days=r.uniform(200, 2000))
        if r.random() < 0.3:  # depot injections given in clinic: current for 90 days
            c.administration("leuprolide", r.uniform(10, 70), 22.5, "intramuscular")
        else:
            drug = r.choice(("leuprolide", "goserelin", "degarelix"))
            c.med(drug, r.uniform(60, 900), route="subcutaneous", statement=False)
    else:
        c.patient(r.randint(45, 80), "female")
        c.condition("C50.911", onset_days=r.uniform(200, 2000))
        drug, dose = r.choice((("anastrozole", 1), ("letrozole", 2.5), ("exemestane", 25)))
        c.med(drug, r.uniform(60, 900), dose_mg=dose)
    routine_draws(c)


@archetype("low-z-score", "Low Z-score before 50 (T-score must not be used)", 0.6,
           {"low-z-score": WARNING}, "V26")  # fmt: skip
def low_z(c: Chart) -> None:
    r = c.rng
    person(c, female=(25, 45), male=(25, 45), share=0.7)
    z = u(r, (-3.2, -2.1))
    c.dxa(r.uniform(20, 600), Z_LS=z, T_LS=round(z - 0.3, 1), Z_TH=u(r, (-1.9, -0.5)))
    routine_draws(c)


def _op_therapy(c: Chart) -> None:
    """Current osteoporosis therapy: an oral bisphosphonate, denosumab or zoledronic acid."""
    r = c.rng
    kind = r.random()
    if kind < 0.5:
        drug, dose, every = r.choice((("alendronate", 70, 7), ("alendronate", 10, 1), ("risedronate", 35, 7)))
        c.med(drug, r.uniform(800, 2500), dose_mg=dose, every_days=every)
    elif kind < 0.8:  # Prolia every 6 months, given in clinic
        first = r.uniform(20, 170)
        c.administration("denosumab", first, 60, "subcutaneous")
        c.administration("denosumab", first + r.uniform(175, 190), 60, "subcutaneous")
    else:
        c.administration("zoledronic acid", r.uniform(30, 330), 5, "intravenous")


@archetype("dxa-monitoring-due", "On osteoporosis therapy, last DXA over two years ago", 1.0,
           {"dxa-monitoring-due": INFO}, "V27")  # fmt: skip
def dxa_monitoring(c: Chart) -> None:
    r = c.rng
    c.patient(r.randint(65, 88), "female")
    _op_therapy(c)
    c.dxa(r.uniform(760, 1500), T_LS=u(r, (-3.3, -2.6)), T_TH=u(r, (-2.4, -1.2)))
    complete_workup(c, r.uniform(20, 300))


@archetype("osteoporosis-screening-due", "Woman 65 or older, never screened", 2.0,
           {"osteoporosis-screening-due": INFO}, "V28")  # fmt: skip
def screening_due(c: Chart) -> None:
    c.patient(c.rng.randint(65, 90), "female")
    routine_draws(c)


@archetype("tsh-suppressed-bone-risk", "Suppressed TSH on levothyroxine, 65 or older", 0.7,
           {"tsh-suppressed-bone-risk": INFO}, "V30")  # fmt: skip
def tsh_suppressed(c: Chart) -> None:
    r = c.rng
    person(c, female=(66, 85), male=(66, 85), share=0.7)
    c.draw(r.uniform(10, 150), TSH=u(r, (0.01, 0.08), 2))
    c.med("levothyroxine", r.uniform(500, 3000), dose_mg=r.choice((0.1, 0.125, 0.15, 0.2)))
    osteopenic_dxa(c)


def _osteoporosis(c: Chart) -> None:
    """Osteoporosis status (RULES.md 3.6): a T-score ≤ -2.6 after 50, often with a diagnosis."""
    r = c.rng
    c.dxa(r.uniform(30, 700), T_LS=u(r, (-3.5, -2.6)), T_FN=u(r, (-3.0, -1.5)))
    if r.random() < 0.6:
        c.condition(r.choice(("M81.0", "64859006", "M80.08XA", "Z87.310")))


@archetype("osteoporosis-untreated-workup-missing", "Untreated osteoporosis, work-up labs missing",
           1.0, {"low-bmd-secondary-workup": INFO, "osteoporosis-untreated": WARNING}, "V41")  # fmt: skip
def untreated_workup_missing(c: Chart) -> None:
    r = c.rng
    person(c, female=(60, 90), male=(60, 85), share=0.8)
    _osteoporosis(c)
    if r.random() < 0.5:  # labs older than the 365-day work-up window
        complete_workup(c, r.uniform(400, 1000))


@archetype("osteoporosis-untreated", "Untreated osteoporosis, work-up complete", 0.8,
           {"osteoporosis-untreated": WARNING})  # fmt: skip
def untreated(c: Chart) -> None:
    r = c.rng
    person(c, female=(60, 90), male=(60, 85), share=0.8)
    _osteoporosis(c)
    complete_workup(c, r.uniform(10, 300))


_ADULT_RISK = (("E24.9", 0.5), ("47270006", 0.5), ("F50.00", 0.9), ("56882008", 0.9), ("E29.1", 0.0))
_OLDER_RISK = ("M06.9", "69896004", "E10.9", "K90.0", "M45.9", "E05.90", "C90.00", "K50.90")


@archetype("bone-risk-condition-dxa-due", "A disease linked to bone loss, no DXA in two years", 1.5,
           {"bone-risk-condition-dxa-due": INFO}, "V42")  # fmt: skip
def bone_risk(c: Chart) -> None:
    r = c.rng
    if r.random() < 0.45:
        code, share = r.choice(_ADULT_RISK)
        person(c, female=(20, 49), male=(20, 49), share=share)
    else:
        code = r.choice(_OLDER_RISK)
        person(c, female=(50, 85), male=(50, 85), share=0.55)
    c.condition(code)
    if c.age >= 50 and r.random() < 0.3:  # a normal DXA, older than two years
        c.dxa(r.uniform(800, 1500), T_LS=u(r, (-0.8, 1.0)), T_TH=u(r, (-0.8, 1.0)))
    routine_draws(c, vitd=False)


@archetype("bariatric-secondary-hpt", "After bariatric surgery: low 25-OH D, raised PTH, no DXA",
           0.5, {"secondary-hpt": INFO, "vitd-deficiency": INFO, "bone-risk-condition-dxa-due": INFO},
           "V33")  # fmt: skip
def bariatric(c: Chart) -> None:
    r = c.rng
    c.patient(r.randint(25, 49), "female")
    if r.random() < 0.5:
        c.condition("Z98.84")
    else:
        c.procedure(codes.GASTRIC_BYPASS, r.uniform(500, 3000))
    values = calcium(r, NORMAL_CA) | {"PTH": u(r, (75, 150), 0), "VITD": u(r, (13, 19.2))}
    c.draw(r.uniform(10, 60), **values, **kidney(c, u(r, (80, 110), 0)))


@archetype("ckd-g3b-secondary-hpt", "CKD G3b with raised PTH and vitamin D insufficiency", 1.0,
           {"secondary-hpt": INFO, "vitd-deficiency": INFO}, "V13")  # fmt: skip
def ckd_g3b(c: Chart) -> None:
    r = c.rng
    person(c, female=(60, 85), male=(60, 85), share=0.45)
    latest = r.uniform(10, 40)
    values = calcium(r, NORMAL_CA) | {"PTH": u(r, (90, 220), 0), "VITD": u(r, (21.5, 28))}
    c.draw(latest, **values, **kidney(c, u(r, (31, 44), 0)), PO4=u(r, (3.0, 4.4)))
    c.draw(latest + r.uniform(100, 250), **kidney(c, u(r, (33, 55), 0)))
    osteopenic_dxa(c, (100, 650))


@archetype("ckd-mbd-monitoring-due", "CKD G4, calcium and phosphate older than 180 days, no PTH",
           1.0, {"ckd-mbd-monitoring-due": INFO}, "V32")  # fmt: skip
def ckd_mbd(c: Chart) -> None:
    r = c.rng
    person(c, female=(55, 85), male=(55, 85), share=0.5)
    latest = r.uniform(15, 45)
    c.draw(latest, **kidney(c, u(r, (16, 29), 0)))
    c.draw(latest + r.uniform(100, 200), **kidney(c, u(r, (18, 40), 0)))
    old = calcium(r, NORMAL_CA) | {"PO4": u(r, (3.5, 4.5)), "VITD": u(r, VITD_OK, 0)}
    c.draw(r.uniform(200, 330), **old)
    osteopenic_dxa(c, (100, 650))


def _dialysis(c: Chart, pth: tuple[float, float]) -> None:
    r = c.rng
    person(c, female=(45, 80), male=(45, 80), share=0.4)
    if r.random() < 0.7:
        c.condition("N18.6")
        c.condition("Z99.2")
    else:
        c.condition("46177005")
    values = calcium(r, NORMAL_CA, albumin=(3.5, 4.0)) | {"PTH": u(r, pth, 0)}
    c.draw(r.uniform(10, 40), **values, EGFR=u(r, (5, 12), 0), PO4=u(r, (4.0, 5.5)))
    c.draw(r.uniform(150, 400), VITD=u(r, VITD_OK, 0))
    osteopenic_dxa(c, (200, 650))


@archetype("dialysis-pth-within-target", "Dialysis, PTH 2-9x ULN, normal calcium (no card)", 0.6,
           {}, "V38")  # fmt: skip
def dialysis_within(c: Chart) -> None:
    _dialysis(c, (140, 560))


@archetype("dialysis-pth-above-target", "Dialysis, PTH above 9x ULN", 0.5,
           {"secondary-hpt": WARNING}, "V39")  # fmt: skip
def dialysis_above(c: Chart) -> None:
    _dialysis(c, (650, 1200))
