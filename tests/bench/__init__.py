"""Benchmarks: `make bench` (or `python -m tests.bench [--quick] [name ...]`). Never collected by pytest."""
