from django.db import migrations


def set_fillfactor(apps, schema_editor, value):
    # PostgreSQL only: free room in every page so the refcount change of each commit is a HOT update
    # (no new index entries); at 100% a freshly inserted chunk's first update moved the row (3x slower
    # commits in benchmarks/dedup.py). Only new pages get it; existing ones fill up as rows move.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE dedup_chunk SET (fillfactor = {value})")


class Migration(migrations.Migration):
    dependencies = [("dedup", "0003_file_org_size")]

    operations = [
        migrations.RunPython(
            lambda apps, schema_editor: set_fillfactor(apps, schema_editor, 70),
            lambda apps, schema_editor: set_fillfactor(apps, schema_editor, 100),
        )
    ]
