"""healthd.checks: the built-in checks, the registry, the runner."""
