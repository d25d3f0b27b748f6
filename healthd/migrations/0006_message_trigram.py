"""The admin's search over results, served by a trigram index on PostgreSQL.

The admin searches ``name`` and ``message`` with Django's ``icontains``, which
PostgreSQL runs as ``UPPER(column::text) LIKE UPPER('%term%')``: no B-tree helps, so it
read all 2,000,000 rows of a two-week history (695 ms). A GIN index with pg_trgm's
``gin_trgm_ops`` on those same two expressions serves either side of the search's OR.

On other databases (SQLite, MySQL / MariaDB) this migration does nothing. It is raw SQL
(``healthd.history.sql``) in a RunPython rather than ``django.contrib.postgres``'s
``TrigramExtension`` and ``GinIndex``, because importing that package needs psycopg (a
SQLite or MySQL site has none), and an index in the model state would be re-created by
SQLite's table rebuilds, where GIN does not exist. The index is built ``CONCURRENTLY``
(so the migration is not atomic): workers keep writing history while it builds. Where
pg_trgm cannot be created (no privilege), the migration says so and goes on; search
still works, as slowly as before.

On MySQL / MariaDB the search stays a ``LIKE`` over both columns (a case-insensitive
collation makes it ``icontains``): at 2,000,000 results the page took 2.3 s on MariaDB
10.11, against 54 ms with the trigram index on PostgreSQL 15 (bench/admin_history.py).
A FULLTEXT index would serve it, but it matches whole words and word prefixes, not the
substrings the same search finds on the other databases.
"""

from django.db import migrations

from healthd.history import sql


def create_index(apps, schema_editor):
    sql.create_search_index(schema_editor.connection)


def drop_index(apps, schema_editor):
    sql.drop_search_index(schema_editor.connection)


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("healthd", "0005_result_index_with_duration"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, atomic=False, elidable=False),
    ]
