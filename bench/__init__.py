"""Benchmarks. Each `bench_<name>.py` has `run(quick) -> rows`; every figure sits beside a
peer measured in the same run, with the ratio, because absolute numbers on a shared
2-core machine mean little."""
