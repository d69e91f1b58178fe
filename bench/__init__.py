"""The benchmark harness of issue 7: `make bench`, `make bench-full`, `python bench/run.py --smoke`."""
