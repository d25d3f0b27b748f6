"""The admin's search over results, served by a trigram index on PostgreSQL.

The admin searches ``name`` and ``message`` with Django's ``icontains``, which
PostgreSQL runs as ``UPPER(column::text) LIKE UPPER('%term%')``: no B-tree helps, so it
read all 2,000,000 rows of a two-week history (695 ms). A GIN index with pg_trgm's
``gin_trgm_ops`` on those same two expressions serves either side of the search's OR.

On other databases this migration does nothing. It is raw SQL in a RunPython rather
than ``django.contrib.postgres``'s ``TrigramExtension`` and ``GinIndex``, because
importing that package needs psycopg (a SQLite site has none), and an index in the
model state would be re-created by SQLite's table rebuilds, where GIN does not exist.
The index is built ``CONCURRENTLY`` (so the migration is not atomic): workers keep
writing history while it builds. Where pg_trgm cannot be created (no privilege), the
migration says so and goes on; search still works, as slowly as before.
"""

from django.db import DatabaseError, migrations

INDEX = "healthd_result_search_trgm"
TABLE = "healthd_checkresult"


def create_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError as exc:
            print(f"\n  healthd: no trigram index for the admin's search ({exc})".rstrip())
            return
        # A build interrupted earlier leaves an invalid index under the name: start again.
        cursor.execute("SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                       [INDEX])
        invalid = cursor.fetchone()
        if invalid and invalid[0]:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        cursor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON {TABLE} USING gin "
            "((UPPER(name::text)) gin_trgm_ops, (UPPER(message::text)) gin_trgm_ops)")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("healthd", "0005_result_index_with_duration"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, atomic=False, elidable=False),
    ]
