"""Benchmarks; run ``python -m bench.foundation`` (see bench/README.md)."""
