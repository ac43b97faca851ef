"""The local model registry: a twin of the Vertex AI Model Registry on SQLite.

A model has numbered versions ("1", "2", ...) and version aliases; exactly one version of a
model holds the alias `default`, which is what a name without `@version` refers to. Names
take every form Vertex accepts, plus a display name:
`projects/P/locations/L/models/ID[@V]`, `ID[@V]`, `DISPLAY NAME[@V]`, where `V` is a version
id (digits) or an alias.

Vertex semantics reproduced (sources: `google.cloud.aiplatform_v1.types.model`,
`...types.model_service`, `google.cloud.aiplatform.models.Model.upload` and
`ModelRegistry`, GCPC `container/v1/model/upload_model/remote_runner.py`, the Vertex docs
page "How to use model version aliases"):

- The first upload creates a model with a numeric id and version "1", which always gets
  `default` (SDK: "New model uploads, i.e. version 1, will always be default aliased").
- `parent_model` adds version N+1; its `@version` suffix is ignored (GCPC strips it with
  `rsplit('@', 1)`). `is_default_version=True` adds `default` to the aliases, which moves it
  (SDK `ModelRegistry._get_true_alias_list`). With `is_default_version=False` the SDK adds
  nothing and requires nothing: the version is reachable by its id, so no alias is required
  here either. An alias listed explicitly (even `default`) is always assigned.
- Version ids are auto-incrementing decimals (`Model.version_id`) and are never reused
  after a deletion.
- Aliases are unique within a model: assigning one takes it from the version holding it.
  Format `[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]` (`Model.version_aliases`), so an alias can never
  look like a version id. `default` cannot be removed, only moved (one version must hold it
  at all times).
- Labels follow Cloud label rules: at most 64; keys 1-63 characters starting with a
  lowercase letter; keys and values of lowercase letters (international ones too), digits,
  `_` and `-`; values at most 63 characters.
- `display_name` is required, 1-128 characters, and not unique: Vertex allows two models
  with one display name, so a lookup by display name that matches several models fails.
- `model_id`, when given, is 1-63 characters of `[a-z0-9_-]` not starting with a digit or
  hyphen (`UploadModelRequest.model_id`); it must not exist yet (Vertex: ALREADY_EXISTS).

Choices of this twin (Vertex leaves them open or has no counterpart):

- Display name, descriptions, labels and metadata are stored per version (each version is
  its own `Model` message on Vertex); `vtp models show` reports the default version's.
- A bare name is tried as a model id first, then as a display name. A display name matches
  a model if any of its versions carries it.
- Generated model ids are 19 digits: milliseconds since the epoch and 6 random digits.
- `model_id` together with `parent_model` is refused (the SDK refuses the same pair in
  `Model.copy`).
- Removing an alias the version does not hold is an error, not a no-op, so typos surface.
- `delete_version` on the only version deletes the model (Vertex asks for a model delete).
- `list_models` lists the registry's project and location, newest model first;
  `list_versions` lists oldest version first.

Every write is one `BEGIN IMMEDIATE` transaction, so concurrent processes serialise and an
upload either happens fully or leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vtp.defaults import DEFAULT_LOCATION, LOCAL_PROJECT
from vtp.errors import RegistryError
from vtp.home import registry_db
from vtp.local.registry_schema import check_registry, connect, ensure_schema
from vtp.local.registry_values import (
    DEFAULT_ALIAS,
    checked_aliases,
    json_copy,
    normalise_container_spec,
    normalise_schemata,
    now_rfc3339,
    validate_display_name,
    validate_labels,
    validate_model_id,
    version_sort_key,
)

_FULL_NAME_RE = re.compile(
    r"projects/(?P<project>[^/@]+)/locations/(?P<location>[^/@]+)"
    r"/models/(?P<model>[^/@]+)(?:@(?P<version>[^/@]*))?"
)
_NAME_FORMS = "projects/P/locations/L/models/ID[@V], ID[@V] or a display name[@V]"


@dataclass(frozen=True)
class ModelVersion:
    """One version of a registered model, as the registry returns it."""

    model_id: str
    version_id: str
    display_name: str
    description: str
    version_description: str
    artifact_uri: str
    container_spec: dict
    predict_schemata: dict | None
    labels: dict
    version_aliases: tuple[str, ...]
    create_time: str
    metadata: dict
    project: str
    location: str
    model_create_time: str = ""
    update_time: str = ""

    @property
    def model_resource_name(self) -> str:
        """`projects/P/locations/L/models/ID`."""
        return f"projects/{self.project}/locations/{self.location}/models/{self.model_id}"

    @property
    def resource_name(self) -> str:
        """`projects/P/locations/L/models/ID@VERSION`, the form GCPC's `VertexModel` carries."""
        return f"{self.model_resource_name}@{self.version_id}"

    @property
    def is_default(self) -> bool:
        return DEFAULT_ALIAS in self.version_aliases

    def to_vertex_dict(self) -> dict:
        """The REST `Model` JSON Vertex returns for this version (empty fields omitted)."""
        out: dict[str, Any] = {
            "name": self.model_resource_name,
            "versionId": self.version_id,
            "versionAliases": list(self.version_aliases),
            "createTime": self.model_create_time or self.create_time,
            "updateTime": self.update_time or self.create_time,
            "versionCreateTime": self.create_time,
            "versionUpdateTime": self.update_time or self.create_time,
            "displayName": self.display_name,
            "containerSpec": json.loads(json.dumps(self.container_spec)),
        }
        optional = {
            "description": self.description,
            "versionDescription": self.version_description,
            "artifactUri": self.artifact_uri,
            "predictSchemata": self.predict_schemata,
            "labels": dict(self.labels),
            "metadata": self.metadata,
        }
        out.update({k: json.loads(json.dumps(v)) for k, v in optional.items() if v})
        return out


# ----------------------------------------------------------------------------- registry


class LocalModelRegistry:
    """Models, versions and aliases with Vertex Model Registry semantics, in one SQLite file.

    Args:
        db_path: the database file; it and its parent directory are created on first use.
        project: project of models created here and of bare-name lookups.
        location: location of models created here and of bare-name lookups.
        read_only: read an existing database without writing to it (SQLite `mode=ro`): it is
            checked, never created or migrated, and an upload fails.
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        project: str = LOCAL_PROJECT,
        location: str = DEFAULT_LOCATION,
        read_only: bool = False,
    ):
        for name, value in (("project", project), ("location", location)):
            if not isinstance(value, str) or not value or "/" in value or "@" in value:
                raise RegistryError(
                    f"{name} must be a non-empty id without '/' or '@', got {value!r}"
                )
        self.db_path = Path(db_path).expanduser().resolve()
        self.project = project
        self.location = location
        #: Called as (model_id, version_id) inside the upload transaction, after the version
        #: row is written and before its aliases; an exception from it rolls it all back.
        self._after_version_insert: Callable[[str, str], None] | None = None
        self.read_only = read_only
        if read_only:
            if not self.db_path.is_file():
                raise RegistryError(f"no registry database at {str(self.db_path)!r}")
            check_registry(self.db_path)
        else:
            ensure_schema(self.db_path)

    # -- transactions

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        try:
            conn = connect(self.db_path, read_only=self.read_only)
        except sqlite3.Error as exc:
            raise RegistryError(f"registry database {str(self.db_path)!r}: {exc}") from exc
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise RegistryError(f"registry database {str(self.db_path)!r}: {exc}") from exc
        finally:
            conn.close()

    # -- lookups

    def _model_pk(
        self, conn: sqlite3.Connection, project: str, location: str, model_id: str
    ) -> int | None:
        row = conn.execute(
            "SELECT pk FROM models WHERE project = ? AND location = ? AND model_id = ?",
            (project, location, model_id),
        ).fetchone()
        return None if row is None else int(row["pk"])

    def _models_by_display_name(self, conn: sqlite3.Connection, display_name: str) -> list[int]:
        rows = conn.execute(
            "SELECT DISTINCT m.pk FROM models m JOIN versions v ON v.model_pk = m.pk "
            "WHERE m.project = ? AND m.location = ? AND v.display_name = ? ORDER BY m.pk",
            (self.project, self.location, display_name),
        ).fetchall()
        return [int(r["pk"]) for r in rows]

    def _resolve_model(self, conn: sqlite3.Connection, name: str) -> tuple[int, str | None]:
        """(model pk, version suffix or None) for any accepted name form."""
        if not isinstance(name, str) or not name:
            raise RegistryError(
                f"model name must be a non-empty string ({_NAME_FORMS}), got {name!r}"
            )
        full = _FULL_NAME_RE.fullmatch(name)
        if full:
            pk = self._model_pk(conn, full["project"], full["location"], full["model"])
            if pk is None:
                raise RegistryError(f"model {name!r} not found in {str(self.db_path)!r}")
            return pk, full["version"]
        head, sep, suffix = name.rpartition("@")
        candidates = [(name, None)] if not sep else [(head, suffix), (name, None)]
        for base, version in candidates:
            pk = self._model_pk(conn, self.project, self.location, base)
            if pk is not None:
                return pk, version
        for base, version in candidates:
            pks = self._models_by_display_name(conn, base)
            if len(pks) == 1:
                return pks[0], version
            if len(pks) > 1:
                listed = "; ".join(self._describe_model(conn, pk) for pk in pks)
                raise RegistryError(
                    f"display name {base!r} is ambiguous: {len(pks)} models carry it "
                    f"({listed}); use a model id or resource name"
                )
        raise RegistryError(
            f"model {name!r} not found in project {self.project!r}, location "
            f"{self.location!r} of {str(self.db_path)!r}; a name is {_NAME_FORMS}"
        )

    def _describe_model(self, conn: sqlite3.Connection, pk: int) -> str:
        row = conn.execute(
            "SELECT m.project, m.location, m.model_id, a.version FROM models m "
            "JOIN aliases a ON a.model_pk = m.pk AND a.alias = ? WHERE m.pk = ?",
            (DEFAULT_ALIAS, pk),
        ).fetchone()
        return (
            f"projects/{row['project']}/locations/{row['location']}/models/{row['model_id']} "
            f"(default version {row['version']})"
        )

    def _resolve_version(self, conn: sqlite3.Connection, pk: int, suffix: str | None) -> int:
        """The version number that `suffix` (None, a version id or an alias) names."""
        if suffix is None:
            suffix = DEFAULT_ALIAS
        if suffix.isdigit():
            row = conn.execute(
                "SELECT version FROM versions WHERE model_pk = ? AND version = ?",
                (pk, int(suffix)),
            ).fetchone()
        else:
            row = conn.execute(
                "SELECT version FROM aliases WHERE model_pk = ? AND alias = ?", (pk, suffix)
            ).fetchone()
        if row is None:
            versions = [
                str(r[0])
                for r in conn.execute(
                    "SELECT version FROM versions WHERE model_pk = ? ORDER BY version", (pk,)
                )
            ]
            aliases = [
                r[0]
                for r in conn.execute(
                    "SELECT alias FROM aliases WHERE model_pk = ? ORDER BY alias", (pk,)
                )
            ]
            model_id = conn.execute("SELECT model_id FROM models WHERE pk = ?", (pk,)).fetchone()
            raise RegistryError(
                f"model {model_id[0]} has no version or alias {suffix!r}; versions: "
                f"{', '.join(versions) or 'none'}; aliases: {', '.join(aliases) or 'none'}"
            )
        return int(row[0])

    def _load(self, conn: sqlite3.Connection, pk: int, version: int) -> ModelVersion:
        row = conn.execute(
            "SELECT m.project, m.location, m.model_id, m.create_time AS model_create_time, v.* "
            "FROM versions v JOIN models m ON m.pk = v.model_pk "
            "WHERE v.model_pk = ? AND v.version = ?",
            (pk, version),
        ).fetchone()
        aliases = sorted(
            (
                r[0]
                for r in conn.execute(
                    "SELECT alias FROM aliases WHERE model_pk = ? AND version = ?", (pk, version)
                )
            ),
            key=version_sort_key,
        )
        return ModelVersion(
            model_id=row["model_id"],
            version_id=str(row["version"]),
            display_name=row["display_name"],
            description=row["description"],
            version_description=row["version_description"],
            artifact_uri=row["artifact_uri"],
            container_spec=json.loads(row["container_spec"]),
            predict_schemata=json.loads(row["predict_schemata"])
            if row["predict_schemata"]
            else None,
            labels=json.loads(row["labels"]),
            version_aliases=tuple(aliases),
            create_time=row["create_time"],
            metadata=json.loads(row["metadata"]),
            project=row["project"],
            location=row["location"],
            model_create_time=row["model_create_time"],
            update_time=row["update_time"],
        )

    def _get(self, conn: sqlite3.Connection, name: str) -> tuple[int, int]:
        pk, suffix = self._resolve_model(conn, name)
        return pk, self._resolve_version(conn, pk, suffix)

    # -- public API

    def get(self, name: str) -> ModelVersion:
        """The version `name` refers to; without `@version` or `@alias`, the default one."""
        with self._transaction(write=False) as conn:
            return self._load(conn, *self._get(conn, name))

    def list_models(self) -> list[ModelVersion]:
        """The default version of every model in this project and location, newest first."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT m.pk, a.version FROM models m "
                "JOIN aliases a ON a.model_pk = m.pk AND a.alias = ? "
                "WHERE m.project = ? AND m.location = ? ORDER BY m.create_time DESC, m.pk DESC",
                (DEFAULT_ALIAS, self.project, self.location),
            ).fetchall()
            return [self._load(conn, int(r["pk"]), int(r["version"])) for r in rows]

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of the model `name` refers to (its version suffix is ignored)."""
        with self._transaction(write=False) as conn:
            pk, _ = self._resolve_model(conn, name)
            rows = conn.execute(
                "SELECT version FROM versions WHERE model_pk = ? ORDER BY version", (pk,)
            ).fetchall()
            return [self._load(conn, pk, int(r[0])) for r in rows]

    def upload(
        self,
        *,
        display_name: str,
        artifact_uri: str,
        container_spec: dict,
        parent_model: str | None = None,
        version_aliases: Sequence[str] = (),
        is_default_version: bool = True,
        labels: Mapping[str, str] | None = None,
        description: str = "",
        version_description: str = "",
        predict_schemata: dict | None = None,
        metadata: dict | None = None,
        model_id: str | None = None,
    ) -> ModelVersion:
        """Register a new model (version 1), or a new version of `parent_model`.

        Raises:
            RegistryError: an invalid field, an unknown `parent_model`, a taken `model_id`.
        """
        display_name = validate_display_name(display_name)
        if not isinstance(artifact_uri, str):
            raise RegistryError(f"artifact_uri must be a string URI, got {artifact_uri!r}")
        for fname, text in (
            ("description", description),
            ("version_description", version_description),
        ):
            if not isinstance(text, str):
                raise RegistryError(f"{fname} must be a string, got {text!r}")
        spec = normalise_container_spec(container_spec)
        schemata = normalise_schemata(predict_schemata)
        label_map = validate_labels(labels)
        meta = json_copy(dict(metadata or {}), "metadata")
        aliases = checked_aliases(version_aliases, "version_aliases")
        if is_default_version and DEFAULT_ALIAS not in aliases:
            aliases.append(DEFAULT_ALIAS)
        if model_id is not None:
            validate_model_id(model_id)
            if parent_model:
                raise RegistryError(
                    f"model_id {model_id!r} and parent_model {parent_model!r} cannot be set "
                    "together: model_id names a new model, parent_model an existing one"
                )
        with self._transaction(write=True) as conn:
            now = now_rfc3339()
            if parent_model:
                pk, _ = self._resolve_model_for_parent(conn, parent_model)
            else:
                pk = self._create_model(conn, model_id, now)
                if DEFAULT_ALIAS not in aliases:
                    aliases.append(DEFAULT_ALIAS)
            version = (
                1
                + conn.execute("SELECT last_version FROM models WHERE pk = ?", (pk,)).fetchone()[0]
            )
            conn.execute("UPDATE models SET last_version = ? WHERE pk = ?", (version, pk))
            conn.execute(
                "INSERT INTO versions (model_pk, version, display_name, description, "
                "version_description, artifact_uri, container_spec, predict_schemata, labels, "
                "metadata, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pk,
                    version,
                    display_name,
                    description,
                    version_description,
                    artifact_uri,
                    json.dumps(spec, sort_keys=True),
                    json.dumps(schemata, sort_keys=True) if schemata else None,
                    json.dumps(label_map, sort_keys=True),
                    json.dumps(meta, sort_keys=True),
                    now,
                    now,
                ),
            )
            if self._after_version_insert is not None:
                row = conn.execute("SELECT model_id FROM models WHERE pk = ?", (pk,)).fetchone()
                self._after_version_insert(row[0], str(version))
            self._assign_aliases(conn, pk, version, aliases, now)
            return self._load(conn, pk, version)

    def _resolve_model_for_parent(
        self, conn: sqlite3.Connection, parent_model: str
    ) -> tuple[int, str | None]:
        try:
            return self._resolve_model(conn, parent_model)
        except RegistryError as exc:
            raise RegistryError(f"parent_model {parent_model!r} cannot be used: {exc}") from exc

    def _create_model(self, conn: sqlite3.Connection, model_id: str | None, now: str) -> int:
        if model_id is not None:
            if self._model_pk(conn, self.project, self.location, model_id) is not None:
                raise RegistryError(
                    f"model_id {model_id!r} already exists in project {self.project!r}, "
                    f"location {self.location!r}; pass it as parent_model to add a version"
                )
        else:
            model_id = _new_model_id()
            while conn.execute("SELECT 1 FROM models WHERE model_id = ?", (model_id,)).fetchone():
                model_id = _new_model_id()
        cur = conn.execute(
            "INSERT INTO models (project, location, model_id, create_time) VALUES (?, ?, ?, ?)",
            (self.project, self.location, model_id, now),
        )
        return int(cur.lastrowid)

    def _assign_aliases(
        self, conn: sqlite3.Connection, pk: int, version: int, aliases: Sequence[str], now: str
    ) -> None:
        """Give `aliases` to `version`, taking each from the version that holds it."""
        for alias in aliases:
            conn.execute(
                "UPDATE versions SET update_time = ? WHERE model_pk = ? AND version IN "
                "(SELECT version FROM aliases WHERE model_pk = ? AND alias = ?)",
                (now, pk, pk, alias),
            )
            conn.execute(
                "INSERT INTO aliases (model_pk, alias, version) VALUES (?, ?, ?) "
                "ON CONFLICT (model_pk, alias) DO UPDATE SET version = excluded.version",
                (pk, alias, version),
            )
        if aliases:
            conn.execute(
                "UPDATE versions SET update_time = ? WHERE model_pk = ? AND version = ?",
                (now, pk, version),
            )

    def add_version_aliases(self, name: str, aliases: Sequence[str]) -> ModelVersion:
        """Give `aliases` to the version `name` refers to, moving each from its holder.

        Adding `default` makes this version the default one.
        """
        wanted = checked_aliases(aliases, "aliases")
        with self._transaction(write=True) as conn:
            pk, version = self._get(conn, name)
            self._assign_aliases(conn, pk, version, wanted, now_rfc3339())
            return self._load(conn, pk, version)

    def remove_version_aliases(self, name: str, aliases: Sequence[str]) -> ModelVersion:
        """Take `aliases` off the version `name` refers to; `default` can only be moved."""
        unwanted = checked_aliases(aliases, "aliases")
        if DEFAULT_ALIAS in unwanted:
            raise RegistryError(
                f"alias {DEFAULT_ALIAS!r} cannot be removed: one version must hold it; "
                "add it to another version instead"
            )
        with self._transaction(write=True) as conn:
            pk, version = self._get(conn, name)
            current = self._load(conn, pk, version)
            missing = [a for a in unwanted if a not in current.version_aliases]
            if missing:
                raise RegistryError(
                    f"version {current.resource_name} does not hold aliases {missing}; "
                    f"it holds {list(current.version_aliases)}"
                )
            conn.executemany(
                "DELETE FROM aliases WHERE model_pk = ? AND alias = ?",
                [(pk, a) for a in unwanted],
            )
            if unwanted:
                conn.execute(
                    "UPDATE versions SET update_time = ? WHERE model_pk = ? AND version = ?",
                    (now_rfc3339(), pk, version),
                )
            return self._load(conn, pk, version)

    def delete_version(self, name: str) -> None:
        """Delete the version `name` refers to; the only version takes its model with it.

        Raises:
            RegistryError: the version holds `default` and other versions exist.
        """
        with self._transaction(write=True) as conn:
            pk, version = self._get(conn, name)
            count = conn.execute(
                "SELECT COUNT(*) FROM versions WHERE model_pk = ?", (pk,)
            ).fetchone()[0]
            if count == 1:
                conn.execute("DELETE FROM models WHERE pk = ?", (pk,))
                return
            holder = self._resolve_version(conn, pk, None)
            if holder == version:
                current = self._load(conn, pk, version)
                raise RegistryError(
                    f"version {current.resource_name} holds alias {DEFAULT_ALIAS!r} and cannot "
                    f"be deleted; move {DEFAULT_ALIAS!r} to another version first"
                )
            conn.execute("DELETE FROM versions WHERE model_pk = ? AND version = ?", (pk, version))


def _new_model_id() -> str:
    """A 19-digit numeric id, like Vertex's: epoch milliseconds and 6 random digits."""
    return f"{time.time_ns() // 1_000_000:013d}{secrets.randbelow(10**6):06d}"


def default_registry(
    home: Path | None = None, *, project: str = LOCAL_PROJECT, location: str = DEFAULT_LOCATION
) -> LocalModelRegistry:
    """The registry at `registry_db(home)` (by default under `$VTP_HOME`)."""
    return LocalModelRegistry(registry_db(home), project=project, location=location)
