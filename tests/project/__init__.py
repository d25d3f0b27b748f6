"""The repository itself: the import layout of healthd/ and the compose/ deployment."""
