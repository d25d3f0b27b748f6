"""Notifications without code: the channels of ``HEALTHD["NOTIFY"]``.

A channel is an Apprise URL (Slack, Microsoft Teams, Discord, PagerDuty, Opsgenie,
email, Telegram, ntfy and a hundred more), the same with filters, or a signed JSON
webhook for machines. See :mod:`healthd.alerting.notify.channels` for the forms,
:mod:`healthd.alerting.notify.webhooks` for the webhooks and
:mod:`healthd.system_checks.alerting` for the system check that rejects a malformed one.
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
)
from healthd.alerting.notify.webhooks import webhook_signature

__all__ = ["KINDS", "Channel", "ChannelError", "DeliveryFailed", "backoff", "channel_by_id",
           "configured", "make_event", "parse", "webhook_signature"]
