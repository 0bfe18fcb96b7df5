"""The embedded store's SQLite file (settings.LOCAL_STORE_PATH): values, usage counters, auth versions.

Used when there is no REDIS_URL. Every write runs in one `BEGIN IMMEDIATE` transaction,
so a data operation and its counters commit together, as a Redis script does.
A process-wide lock serialises this process's writers; SQLite's own file lock
serialises processes (WAL mode lets readers continue).
"""

import sqlite3
import threading
from contextlib import contextmanager

from django.conf import settings

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries (tag TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,"
    " expires_at REAL NOT NULL, PRIMARY KEY (tag, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS entries_expiry ON entries (expires_at)",
    "CREATE TABLE IF NOT EXISTS counters (org INTEGER, ns INTEGER, day TEXT, state TEXT, batch TEXT,"
    " field TEXT, amount INTEGER, PRIMARY KEY (org, ns, day, state, field))",
    # Per namespace (ns 0: the organization's namespace-less token), as the Redis store keeps them.
    "CREATE TABLE IF NOT EXISTS auth_tokens (org INTEGER, ns INTEGER, token TEXT NOT NULL, PRIMARY KEY (org, ns))",
    "CREATE TABLE IF NOT EXISTS namespace_rate (org INTEGER, ns INTEGER, second INTEGER NOT NULL,"
    " used INTEGER NOT NULL, PRIMARY KEY (org, ns))",
)

_write_lock = threading.Lock()


class LocalDatabase:
    def __init__(self, path):
        self.path = str(path)
        self._local = threading.local()

    def connection(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            for statement in SCHEMA:
                conn.execute(statement)
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self):
        conn = self.connection()
        with _write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


_database = None


def database():
    """The LocalDatabase for the current settings.LOCAL_STORE_PATH (tests point it at a tmp file)."""
    global _database
    path = str(settings.LOCAL_STORE_PATH)
    if _database is None or _database.path != path:
        _database = LocalDatabase(path)
    return _database
