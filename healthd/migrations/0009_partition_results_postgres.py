"""On PostgreSQL, results become a table partitioned by day (healthd.history.partitions).

The rows are copied while workers go on writing; writes wait only for the last step,
which copies the rows written meanwhile and swaps the tables' names (see
:func:`healthd.history.sql.convert_results_table` for how no row is lost, and the
README for the time it takes). On PostgreSQL the primary key becomes (id, checked_at),
as a partitioned table requires; Django still knows ``id`` as the key, which stays
unique (it comes from one sequence), so the model state is unchanged. The reverse
makes a plain table again, every row kept. On SQLite and MySQL / MariaDB nothing.
"""

from django.db import migrations

from healthd.history import partitions


def partition(apps, schema_editor):
    partitions.partition(schema_editor.connection)


def unpartition(apps, schema_editor):
    partitions.unpartition(schema_editor.connection)


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("healthd", "0008_delivery_channel_labels"),
    ]

    operations = [
        migrations.RunPython(partition, unpartition, atomic=False, elidable=False),
    ]
