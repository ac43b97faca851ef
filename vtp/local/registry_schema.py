"""SQLite schema of the local model registry, versioned with `PRAGMA user_version`.

Tables: `models` (one row per model, with the last version number ever issued so that
version ids are never reused), `versions` (one row per model version) and `aliases` (one
row per alias; the primary key makes an alias unique within a model). The database runs in
WAL mode, and every connection waits up to `BUSY_TIMEOUT_S` for a lock.
"""

from __future__ import annotations

import contextlib
import os
import secrets
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


def connect(db_path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with foreign keys on;
    `read_only` opens the file with SQLite's `mode=ro` (a write fails, nothing is created)."""
    if read_only:
        conn = sqlite3.connect(
            f"file:{db_path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None
        )
    else:
        conn = sqlite3.connect(str(db_path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def check_not_empty(db_path: Path) -> None:
    """Refuses an existing registry file of 0 bytes: SQLite would take it for a new, empty
    database and the registry would silently start over with no models.

    Raises:
        RegistryError: naming the file and what to do.
    """
    try:
        size = db_path.stat().st_size
    except FileNotFoundError:
        return
    except OSError as exc:
        raise RegistryError(f"registry database {str(db_path)!r} cannot be read: {exc}") from exc
    if size == 0:
        raise RegistryError(
            f"registry database {str(db_path)!r} is empty (0 bytes): a registry file is never "
            "empty, so it was truncated (a full disk?) or replaced, and the models it held are "
            "not in it. Restore it from a copy, or move it away to start a new registry."
        )


def check_registry(db_path: Path) -> None:
    """Checks an existing registry file before a run uses it: not empty, an SQLite database,
    intact (`PRAGMA quick_check`), of a schema this vtp reads. A missing file is fine (the
    first upload creates it).

    Raises:
        RegistryError: saying what is wrong with the file.
    """
    if not db_path.exists():
        return
    check_not_empty(db_path)
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            version = _user_version(conn)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise RegistryError(
            f"registry database {str(db_path)!r} is corrupt or not a model registry ({exc}); "
            "restore it from a copy, or move it away to start a new registry"
        ) from exc
    if result != "ok":
        raise RegistryError(
            f"registry database {str(db_path)!r} is corrupt (SQLite quick_check: {result}); "
            "restore it from a copy, or move it away to start a new registry"
        )
    if version not in (0, SCHEMA_VERSION):
        raise RegistryError(
            f"registry database {str(db_path)!r} has schema version {version}; this vtp reads "
            f"schema version {SCHEMA_VERSION}"
        )


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def ensure_schema(db_path: Path) -> None:
    """Create the database, its parent directory and the schema if missing.

    Raises:
        RegistryError: the file is not a registry database, or one written by a newer vtp.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    if not db_path.exists():
        _create_atomically(db_path)
    check_not_empty(db_path)
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
            f"registry database {str(db_path)!r} is corrupt or not a model registry ({exc}); "
            "restore it from a copy, or move it away to start a new registry"
        ) from exc
    finally:
        conn.close()


def _create_atomically(db_path: Path) -> None:
    """Creates a new registry with its schema in a temporary file, then links it into place:
    a concurrent opener sees no file or a whole registry, never SQLite's 0-byte new file
    (which `check_not_empty` would rightly refuse). A registry another process linked first
    is kept."""
    tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
    try:
        conn = connect(tmp)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _DDL:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()
        with contextlib.suppress(FileExistsError):
            os.link(tmp, db_path)
    except (OSError, sqlite3.Error) as exc:
        raise RegistryError(f"registry database {str(db_path)!r} cannot be created: {exc}") from exc
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            with contextlib.suppress(OSError):
                leftover.unlink()
