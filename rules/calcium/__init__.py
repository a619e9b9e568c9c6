"""Calcium rules (RULES.md group A)."""
