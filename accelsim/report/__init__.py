"""Metrics, tables, plots and traces made from the engine's records."""
