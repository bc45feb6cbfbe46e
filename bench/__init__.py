"""Benchmarks: scripts that print JSON figures (``make bench`` runs them all)."""
