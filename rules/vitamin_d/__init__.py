"""Vitamin D rules (RULES.md group B)."""
