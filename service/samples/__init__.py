"""Sample patients (the RULES.md section 9 vignettes as FHIR Bundles) for `osteoalert demo`."""
