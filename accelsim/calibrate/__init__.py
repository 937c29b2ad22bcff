"""Calibration of hardware parameters against reference figures."""
