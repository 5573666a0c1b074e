"""Diagnosing a connection: probe, proxy, issuers, classification, per-client attempts, reports."""
