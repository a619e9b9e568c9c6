"""CKD-MBD rules (RULES.md group D)."""
