"""Parathyroid rules (RULES.md group A)."""
