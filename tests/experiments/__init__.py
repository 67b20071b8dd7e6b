"""experiments: not shipped with the package."""
