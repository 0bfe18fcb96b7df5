"""Bulk chunk-index queries. On PostgreSQL they pass whole arrays as one parameter (= ANY(%s), unnest),
which is many times faster than the ORM's one-placeholder-per-value SQL for thousands of chunks; other
databases (the embedded SQLite default) use the ORM in batches.
"""

from django.db import connection
from django.db.models import F

from dedup.models import Chunk

BATCH = 2000


def _postgres():
    return connection.vendor == "postgresql"


class _binary_cursor:
    """A psycopg cursor on Django's connection (same transaction) with server-side binding and binary
    parameters: arrays of thousands of digests are sent as-is instead of being escaped as text."""

    def __enter__(self):
        import psycopg

        connection.ensure_connection()
        self.cursor = psycopg.Cursor(connection.connection)
        return self

    def execute(self, query, params):
        self.cursor.execute(query, params, binary=True)

    def fetchall(self):
        return self.cursor.fetchall()

    def __exit__(self, *exc):
        self.cursor.close()


def _batches(items, size=BATCH):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def relaxed_commit():
    """Inside a transaction that only adds chunk index rows: commit without waiting for the WAL flush.

    Safe because nothing depends on those rows being durable on their own: the manifest commit that
    references them is a normal (synchronous) commit, and PostgreSQL flushes the WAL in order, so it
    makes them durable too. A crash before that leaves a pack without rows, which GC removes.
    """
    if _postgres():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def lookup(organization_id, digests):
    """[(sha256 bytes, id, refcount, corrupt)] of the organization's chunks among `digests`."""
    digests = list(digests)
    if not digests:
        return []
    if _postgres():
        with _binary_cursor() as cursor:
            cursor.execute(
                "SELECT sha256, id, refcount, corrupt FROM dedup_chunk WHERE organization_id = %s"
                " AND sha256 = ANY(%b::bytea[])",
                [organization_id, digests],
            )
            return [(bytes(row[0]), row[1], row[2], row[3]) for row in cursor.fetchall()]
    rows = []
    for batch in _batches(digests):
        rows += [
            (bytes(row[0]), row[1], row[2], row[3])
            for row in Chunk.objects.filter(organization_id=organization_id, sha256__in=batch).values_list(
                "sha256", "id", "refcount", "corrupt"
            )
        ]
    return rows


def insert(organization_id, pack_id, entries, protected_until, created_at):
    """Insert chunk rows [(digest, size, stored_size, compression, offset)]; existing digests are left alone."""
    if not entries:
        return
    if _postgres():
        columns = list(zip(*entries, strict=True))
        with _binary_cursor() as cursor:
            cursor.execute(
                'INSERT INTO dedup_chunk (organization_id, sha256, size, stored_size, compression, pack_id, "offset",'
                " refcount, protected_until, corrupt, created_at)"
                " SELECT %s, d, s, ss, c, %s, o, 0, %s, false, %s"
                " FROM unnest(%b::bytea[], %b::int[], %b::int[], %b::smallint[], %b::bigint[]) AS t(d, s, ss, c, o)"
                " ON CONFLICT (organization_id, sha256) DO NOTHING",
                [
                    organization_id,
                    pack_id,
                    protected_until,
                    created_at,
                    list(columns[0]),
                    list(columns[1]),
                    list(columns[2]),
                    list(columns[3]),
                    list(columns[4]),
                ],
            )
        return
    Chunk.objects.bulk_create(
        [
            Chunk(
                organization_id=organization_id,
                sha256=digest,
                size=size,
                stored_size=stored_size,
                compression=compression,
                pack_id=pack_id,
                offset=offset,
                protected_until=protected_until,
                created_at=created_at,
            )
            for digest, size, stored_size, compression, offset in entries
        ],
        batch_size=500,
        ignore_conflicts=True,
    )


def _columns_by_id(organization_id, ids, columns):
    """{id: (columns...)} of the organization's chunks among `ids`; column names come from this module."""
    ids = [int(i) for i in ids]
    if not ids:
        return {}
    if _postgres():
        with _binary_cursor() as cursor:
            cursor.execute(
                f"SELECT id, {', '.join(columns)} FROM dedup_chunk WHERE organization_id = %s"
                " AND id = ANY(%b::bigint[])",
                [organization_id, ids],
            )
            return {row[0]: row[1:] for row in cursor.fetchall()}
    rows = {}
    for batch in _batches(ids):
        for row in Chunk.objects.filter(organization_id=organization_id, id__in=batch).values_list("id", *columns):
            rows[row[0]] = row[1:]
    return rows


def refcount_rows(organization_id, ids):
    """{id: (refcount, size)}."""
    return _columns_by_id(organization_id, ids, ("refcount", "size"))


def digest_rows(organization_id, ids):
    """{id: (sha256 bytes, corrupt)} of the organization's chunks among `ids`."""
    rows = _columns_by_id(organization_id, ids, ("sha256", "corrupt"))
    return {chunk_id: (bytes(digest), corrupt) for chunk_id, (digest, corrupt) in rows.items()}


def add_refcount(ids, delta, freed_until=None):
    """refcount += delta. With `freed_until`, a chunk the change leaves unreferenced is protected until then:
    an upload that found it still referenced (and so did not protect it) may be about to commit it."""
    ids = [int(i) for i in ids]
    if not ids:
        return
    if _postgres():
        with _binary_cursor() as cursor:
            if freed_until is None:
                cursor.execute(
                    "UPDATE dedup_chunk SET refcount = refcount + %s WHERE id = ANY(%b::bigint[])", [delta, ids]
                )
            else:
                cursor.execute(
                    "UPDATE dedup_chunk SET refcount = refcount + %s, protected_until = CASE"
                    " WHEN refcount + %s <= 0 AND protected_until < %s THEN %s ELSE protected_until END"
                    " WHERE id = ANY(%b::bigint[])",
                    [delta, delta, freed_until, freed_until, ids],
                )
        return
    for batch in _batches(ids):
        Chunk.objects.filter(id__in=batch).update(refcount=F("refcount") + delta)
        if freed_until is not None:
            Chunk.objects.filter(id__in=batch, refcount__lte=0, protected_until__lt=freed_until).update(
                protected_until=freed_until
            )


def protect(ids, until):
    ids = [int(i) for i in ids]
    if not ids:
        return
    if _postgres():
        with _binary_cursor() as cursor:
            cursor.execute(
                "UPDATE dedup_chunk SET protected_until = %s WHERE id = ANY(%b::bigint[]) AND protected_until < %s",
                [until, ids, until],
            )
        return
    for batch in _batches(ids):
        Chunk.objects.filter(id__in=batch, protected_until__lt=until).update(protected_until=until)


def read_rows(ids):
    """{id: (id, sha256, pack key, offset, stored_size, compression, size)} for serving."""
    ids = [int(i) for i in ids]
    if not ids:
        return {}
    if _postgres():
        with _binary_cursor() as cursor:
            cursor.execute(
                'SELECT c.id, c.sha256, p.key, c."offset", c.stored_size, c.compression, c.size'
                " FROM dedup_chunk c JOIN dedup_pack p ON p.id = c.pack_id WHERE c.id = ANY(%b::bigint[])",
                [ids],
            )
            return {row[0]: row for row in cursor.fetchall()}
    rows = {}
    for batch in _batches(ids):
        for row in Chunk.objects.filter(id__in=batch).values_list(
            "id", "sha256", "pack__key", "offset", "stored_size", "compression", "size"
        ):
            rows[row[0]] = row
    return rows


def delete_unreferenced(ids, now):
    """Delete chunk rows that are still unreferenced and unprotected at the moment of the DELETE
    (a concurrent "missing?" answer or upload that protected one wins). Returns [(id, size)] deleted."""
    ids = [int(i) for i in ids]
    if not ids:
        return []
    if _postgres():
        with _binary_cursor() as cursor:
            cursor.execute(
                "DELETE FROM dedup_chunk WHERE id = ANY(%b::bigint[]) AND refcount = 0 AND protected_until < %s"
                " RETURNING id, size",
                [ids, now],
            )
            return cursor.fetchall()
    deleted = []
    for batch in _batches(ids):
        query = Chunk.objects.filter(id__in=batch, refcount=0, protected_until__lt=now)
        rows = list(query.values_list("id", "size"))
        Chunk.objects.filter(id__in=[row[0] for row in rows]).delete()
        deleted += rows
    return deleted


def any_corrupt(organization_id, ids):
    """True if any of the organization's chunks among `ids` is marked corrupt."""
    ids = sorted({int(i) for i in ids})
    if not ids:
        return False
    if _postgres():
        with _binary_cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM dedup_chunk WHERE organization_id = %s AND id = ANY(%b::bigint[])"
                " AND corrupt)",
                [organization_id, ids],
            )
            return cursor.fetchall()[0][0]
    return any(
        Chunk.objects.filter(organization_id=organization_id, id__in=batch, corrupt=True).exists()
        for batch in _batches(ids)
    )


def apply_refcounts(organization_id, deltas, freed_until):
    """refcount += delta for {id: delta} of the organization's chunks, in one statement on PostgreSQL.
    A chunk left unreferenced is protected until `freed_until` (see add_refcount).
    Returns {id: (refcount before, size)} of the rows that exist."""
    if not deltas:
        return {}
    if _postgres():
        ids = [int(i) for i in deltas]
        with _binary_cursor() as cursor:
            cursor.execute(
                "UPDATE dedup_chunk c SET refcount = c.refcount + d.delta, protected_until = CASE"
                " WHEN d.delta < 0 AND c.refcount + d.delta <= 0 AND c.protected_until < %s THEN %s"
                " ELSE c.protected_until END"
                " FROM unnest(%b::bigint[], %b::int[]) AS d(id, delta)"
                " WHERE c.id = d.id AND c.organization_id = %s"
                " RETURNING c.id, c.refcount - d.delta, c.size",
                [freed_until, freed_until, ids, [int(deltas[i]) for i in ids], organization_id],
            )
            return {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    rows = refcount_rows(organization_id, deltas)
    by_delta = {}
    for chunk_id, delta in deltas.items():
        if chunk_id in rows:
            by_delta.setdefault(delta, []).append(chunk_id)
    for delta, ids in by_delta.items():
        add_refcount(ids, delta, freed_until=freed_until if delta < 0 else None)
    return rows


def save_storage(organization_id, stored_bytes, updated_at, namespace_id=None, totals=None):
    """Set the organization's stored bytes and add `totals` ({column: amount}) to the namespace's
    running totals, in one round trip on PostgreSQL. Returns False if the totals row does not exist yet
    (nothing was added to it then)."""
    totals = {name: amount for name, amount in (totals or {}).items() if amount}
    if not _postgres() or not totals:
        from dedup.models import OrgStorage

        OrgStorage.objects.filter(organization_id=organization_id).update(
            stored_bytes=stored_bytes, updated_at=updated_at
        )
        return not totals
    # Column names come from the code (services._add_totals' callers), never from a request.
    assignments = ", ".join(f"{name} = {name} + %s" for name in totals)
    with _binary_cursor() as cursor:
        cursor.execute(
            f"WITH t AS (UPDATE dedup_namespacetotals SET {assignments} WHERE namespace_id = %s RETURNING 1)"
            " UPDATE dedup_orgstorage SET stored_bytes = %s, updated_at = %s WHERE organization_id = %s"
            " RETURNING (SELECT count(*) FROM t)",
            [*totals.values(), namespace_id, stored_bytes, updated_at, organization_id],
        )
        return cursor.fetchall()[0][0] > 0
