"""healthd.alerting and healthd.signals: the outbox, notifications, silences, signals."""
