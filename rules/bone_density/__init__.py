"""Bone density and secondary osteoporosis rules (RULES.md group C)."""
