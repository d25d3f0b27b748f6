"""The standalone daemon: the ``healthd`` command, its supervisor, its progress, the embedded
Redis."""
