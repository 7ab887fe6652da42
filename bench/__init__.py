"""Benchmarks: each ``*_bench.py`` prints figures and a ratio against a baseline it measures in
the same run (never an absolute threshold). ``python -m bench [NAME...]`` runs them."""
