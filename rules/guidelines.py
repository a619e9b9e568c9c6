"""Guideline references cited by the cards (RULES.md section 11), with absolute URLs."""

from __future__ import annotations

from rules.findings import Reference

PHPT_WORKSHOP_2022 = Reference(
    "Fifth International Workshop on Primary Hyperparathyroidism 2022 (Bilezikian et al., "
    "J Bone Miner Res 2022;37:2293-2314)",
    "https://doi.org/10.1002/jbmr.4677",
)
MSD_HYPERCALCEMIA_2023 = Reference(
    "MSD Manual Professional: Hypercalcemia (Lewis, 2023)",
    "https://www.msdmanuals.com/professional/endocrine-and-metabolic-disorders/"
    "electrolyte-disorders/hypercalcemia",
)
ACR_GIOP_2022 = Reference(
    "2022 ACR Guideline for Glucocorticoid-Induced Osteoporosis (Humphrey et al., "
    "Arthritis Rheumatol 2023;75:2088-2102)",
    "https://doi.org/10.1002/art.42646",
)
ES_VITD_2024 = Reference(
    "Endocrine Society 2024: Vitamin D for the Prevention of Disease (Demay et al., "
    "J Clin Endocrinol Metab 2024;109:1907-1947)",
    "https://doi.org/10.1210/clinem/dgae290",
)
ES_VITD_2011 = Reference(
    "Endocrine Society 2011: Evaluation, Treatment, and Prevention of Vitamin D Deficiency "
    "(Holick et al., J Clin Endocrinol Metab 2011;96:1911-1930)",
    "https://doi.org/10.1210/jc.2011-0385",
)
KDIGO_CKD_MBD_2017 = Reference(
    "KDIGO 2017 CKD-MBD Guideline Update (Kidney Int Suppl 2017;7:1-59)",
    "https://kdigo.org/guidelines/ckd-mbd/",
)
AACE_2020 = Reference(
    "AACE/ACE 2020 Postmenopausal Osteoporosis Guidelines (Camacho et al., Endocr Pract "
    "2020;26 Suppl 1:1-46)",
    "https://doi.org/10.4158/GL-2020-0524SUPPL",
)
ISCD = Reference(
    "ISCD Official Positions - Adult",
    "https://iscd.org/official-positions-2023/",
)
USPSTF_2025 = Reference(
    "USPSTF 2025: Screening for Osteoporosis to Prevent Fractures (JAMA 2025)",
    "https://www.uspreventiveservicestaskforce.org/uspstf/recommendation/osteoporosis-screening",
)
HYPOPARA_2016 = Reference(
    "Management of Hypoparathyroidism: Summary Statement and Guidelines (Brandi et al., "
    "J Clin Endocrinol Metab 2016;101:2273-2283)",
    "https://doi.org/10.1210/jc.2015-3907",
)
SFE_HYPOCALCAEMIA_2016 = Reference(
    "Society for Endocrinology Emergency Guidance: Acute Hypocalcaemia (Turner et al., "
    "Endocr Connect 2016;5:G7-G8)",
    "https://doi.org/10.1530/EC-16-0056",
)
ASCO_2019 = Reference(
    "ASCO 2019: Management of Osteoporosis in Survivors of Adult Cancers (Shapiro et al., "
    "J Clin Oncol 2019;37:2916-2946)",
    "https://doi.org/10.1200/JCO.19.01696",
)
ATA_2016 = Reference(
    "2016 ATA Guidelines for Hyperthyroidism and Other Causes of Thyrotoxicosis (Ross et al., "
    "Thyroid 2016;26:1343-1421)",
    "https://doi.org/10.1089/thy.2016.0229",
)
FDA_PROLIA_2024 = Reference(
    "FDA Drug Safety Communication (19 Jan 2024): Boxed Warning for severe hypocalcemia with "
    "Prolia (denosumab) in advanced CKD",
    "https://www.fda.gov/drugs/drug-safety-and-availability/"
    "fda-adds-boxed-warning-increased-risk-severe-hypocalcemia-patients-advanced-chronic-kidney-disease-taking",
)
NPHPT_REVIEW_2021 = Reference(
    "Normocalcemic Primary Hyperparathyroidism (Zavatta & Clarke, Endocrinol Metab 2021;36:525-535)",
    "https://doi.org/10.3803/EnM.2021.1061",
)
CKD_EPI_2021 = Reference(
    "CKD-EPI 2021 race-free eGFR equations (Inker et al., N Engl J Med 2021;385:1737-1749)",
    "https://doi.org/10.1056/NEJMoa2102953",
)
PAYNE_1973 = Reference(
    "Interpretation of serum calcium in patients with abnormal serum proteins (Payne et al., "
    "Br Med J 1973;4:643-646)",
    "https://doi.org/10.1136/bmj.4.5893.643",
)
