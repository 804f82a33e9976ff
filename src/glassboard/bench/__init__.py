"""Benchmarks: async runner, result store, tasks, strict/lenient scorers, statistics, claim check."""
