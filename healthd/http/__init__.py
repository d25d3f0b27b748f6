"""What every health view shares: who may see details, JSON answers that never carry a traceback."""
