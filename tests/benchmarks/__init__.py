"""benchmarks: not shipped with the package."""
