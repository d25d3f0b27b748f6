"""healthd.passive: jobs that report in, in-process and in a real worker."""
