"""A delivery is shown by a label that holds no secret: relabel the rows written while the
label was the channel's masked URL (its path, the secret of most Apprise services, shown).

The row of a channel still in ``HEALTHD["NOTIFY"]`` takes that channel's label (its
service and position, ``slack#1``) and its id (a digest of the URL keyed with
``SECRET_KEY``), as ``healthd.alerting.notify`` names it now; the row of a channel no
longer there takes its service and "(removed)". A named channel's rows are left as they
are: the name was, and is, its label and id. One UPDATE per channel, not per row.
"""

import hashlib

from django.conf import settings
from django.db import migrations, models
from django.db.models import F
from django.utils.crypto import salted_hmac


def _configured() -> dict[str, tuple[str, str]]:
    """{the id a configured channel had: (its id now, its label)}, unnamed channels only."""
    entries = (getattr(settings, "HEALTHD", None) or {}).get("NOTIFY") or []
    found = {}
    for position, entry in enumerate(entries if isinstance(entries, list | tuple) else [], 1):
        entry = {"url": entry} if isinstance(entry, str) else entry
        if not isinstance(entry, dict) or entry.get("name"):
            continue
        kind = "webhook" if "webhook" in entry else "apprise"
        url = entry.get("webhook" if kind == "webhook" else "url")
        if not isinstance(url, str) or not url:
            continue
        service = "webhook" if kind == "webhook" else url.split("://", 1)[0].lower()
        former = f"{kind}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
        digest = salted_hmac("healthd.notify.channel", url, algorithm="sha256").hexdigest()
        found[former] = (f"{kind}-{digest[:12]}", f"{service}#{position}")
    return found


def relabel(apps, schema_editor):
    Delivery = apps.get_model("healthd", "Delivery")
    configured = _configured()
    unnamed = Delivery.objects.exclude(channel_label=F("channel"))
    for channel in list(unnamed.values_list("channel", flat=True).distinct()):
        if channel in configured:
            new_id, label = configured[channel]
        else:
            shown = unnamed.filter(channel=channel).values_list("channel_label", flat=True)[0]
            service = ("webhook" if channel.startswith("webhook-")
                       else shown.split("://", 1)[0].lower() if "://" in shown else "apprise")
            new_id, label = channel, f"{service} (removed)"
        unnamed.filter(channel=channel).update(channel=new_id, channel_label=label[:300])


class Migration(migrations.Migration):

    dependencies = [
        ("healthd", "0007_time_indexes_ascending_on_mysql"),
    ]

    operations = [
        migrations.AlterField(
            model_name="delivery",
            name="channel_label",
            field=models.CharField(
                help_text="the channel's name, or its service and position (slack#1)",
                max_length=300),
        ),
        migrations.RunPython(relabel, migrations.RunPython.noop),
    ]
