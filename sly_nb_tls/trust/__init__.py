"""Trusting extra certificates: files, environment, live hooks, and keeping them across restarts."""
