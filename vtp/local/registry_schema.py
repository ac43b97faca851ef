"""SQLite schema of the local model registry, versioned with `PRAGMA user_version`.

Tables: `models` (one row per model, with the last version number ever issued so that
version ids are never reused), `versions` (one row per model version) and `aliases` (one
row per alias; the primary key makes an alias unique within a model). The database runs in
WAL mode, and every connection waits up to `BUSY_TIMEOUT_S` for a lock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from vtp.errors import RegistryError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 60.0

_DDL = (
    """
    CREATE TABLE models (
        pk INTEGER PRIMARY KEY AUTOINCREMENT,
        project TEXT NOT NULL,
        location TEXT NOT NULL,
        model_id TEXT NOT NULL,
        create_time TEXT NOT NULL,
        last_version INTEGER NOT NULL DEFAULT 0,
        UNIQUE (project, location, model_id)
    )
    """,
    """
    CREATE TABLE versions (
        model_pk INTEGER NOT NULL REFERENCES models(pk) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        display_name TEXT NOT NULL,
        description TEXT NOT NULL,
        version_description TEXT NOT NULL,
        artifact_uri TEXT NOT NULL,
        container_spec TEXT NOT NULL,
        predict_schemata TEXT,
        labels TEXT NOT NULL,
        metadata TEXT NOT NULL,
        create_time TEXT NOT NULL,
        update_time TEXT NOT NULL,
        PRIMARY KEY (model_pk, version)
    )
    """,
    "CREATE INDEX versions_by_display_name ON versions (display_name)",
    """
    CREATE TABLE aliases (
        model_pk INTEGER NOT NULL,
        alias TEXT NOT NULL,
        version INTEGER NOT NULL,
        PRIMARY KEY (model_pk, alias),
        FOREIGN KEY (model_pk, version)
            REFERENCES versions (model_pk, version) ON DELETE CASCADE
    )
    """,
)


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with foreign keys on."""
    conn = sqlite3.connect(str(db_path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def ensure_schema(db_path: Path) -> None:
    """Create the database, its parent directory and the schema if missing.

    Raises:
        RegistryError: the file is not a registry database, or one written by a newer vtp.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = connect(db_path)
    except sqlite3.Error as exc:
        raise RegistryError(f"registry database {str(db_path)!r} cannot be opened: {exc}") from exc
    try:
        if _user_version(conn) == SCHEMA_VERSION:
            return
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = _user_version(conn)
            if found == 0:
                for statement in _DDL:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif found != SCHEMA_VERSION:
                raise RegistryError(
                    f"registry database {str(db_path)!r} has schema version {found}; "
                    f"this vtp reads schema version {SCHEMA_VERSION}"
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise RegistryError(
            f"registry database {str(db_path)!r} is not usable as a model registry: {exc}"
        ) from exc
    finally:
        conn.close()
