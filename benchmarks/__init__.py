"""Benchmarks run by ``make bench`` (``python -m benchmarks.run``).

Each measurement is one function registered with :func:`benchmarks.registry.measurement` in a module named
``benchmarks/bench_*.py``; the runner finds those modules by name, runs every measurement in its own child
process (so peak memory is per measurement) and prints one line per figure.
"""
