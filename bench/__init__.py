"""Hawser benchmarks: `python bench/run.py --quick|--full [--scenario S1,S2]`."""
