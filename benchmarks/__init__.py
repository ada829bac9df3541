"""NAS-Bench tables, replays and speed benchmarks (``bonas.benchmarks``)."""
