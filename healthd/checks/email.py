"""``email``: open and close a connection; send a real message only to a configured recipient."""

from __future__ import annotations

from collections.abc import Callable

from django.core.mail import EmailMessage, get_connection

from healthd.checks.base import Observation


def make(recipient: str | None = None) -> Callable[[], Observation]:
    def check_email() -> Observation:
        from healthd import conf

        to = recipient or conf.get().email_recipient
        connection = get_connection(fail_silently=False)
        connection.open()
        try:
            if to:
                EmailMessage(
                    "healthd email check",
                    "This message was sent by healthd's email check.",
                    to=[to],
                    connection=connection,
                ).send(fail_silently=False)
                return Observation("connection opened, test message sent")
        finally:
            connection.close()
        return Observation("connection opened and closed")

    return check_email
