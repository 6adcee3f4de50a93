"""Evaluating a checkpoint: pure metrics (metrics.py), the measurements on a model (run.py), the report files
(report.py)."""
