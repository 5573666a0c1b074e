"""Carrying the extras to worker processes: Dask and Ray."""
