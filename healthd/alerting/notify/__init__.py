"""Notifications without code: the channels of ``HEALTHD["NOTIFY"]``.

A channel is an Apprise URL (Slack, Microsoft Teams, Discord, PagerDuty, Opsgenie,
email, Telegram, ntfy and a hundred more), the same with filters, or a signed JSON
webhook for machines. See :mod:`healthd.notify.channels` for the forms and
:mod:`healthd.notify.checks` for the system check that rejects a malformed one.
Each (transition, channel) is delivered by the ``healthd.tasks.deliver_notification``
Celery task, with retries.
"""

from healthd.alerting.notify.channels import (
           KINDS,
           Channel,
           ChannelError,
           DeliveryFailed,
           backoff,
           channel_by_id,
           configured,
           make_event,
           parse,
           webhook_signature,
)

__all__ = ["KINDS", "Channel", "ChannelError", "DeliveryFailed", "backoff", "channel_by_id",
           "configured", "make_event", "parse", "webhook_signature"]
