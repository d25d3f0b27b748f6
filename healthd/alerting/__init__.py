"""Transitions made known: the outbox, signals and Sentry, silences, crons, notification
channels."""
