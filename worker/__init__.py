"""Celery workers: subscription notifications and population sweeps run here (issues #4 and #5)."""
