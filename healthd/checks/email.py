"""``email``: open and close a connection; send a real message only to a configured recipient."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.mail import EmailMessage, get_connection

from healthd import conf
from healthd.checks.base import Observation


@dataclass(frozen=True)
class Email:
    """Open and close a connection to the email backend; with a recipient, send it a message.

    No recipient reads ``HEALTHD["EMAIL_RECIPIENT"]`` at run time; without one nothing is
    sent, so the check never mails anyone by surprise.
    """

    recipient: str | None = None

    def run(self) -> Observation:
        """Fail when the backend refuses the connection or the message."""
        to = self.recipient or conf.get().email_recipient
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
