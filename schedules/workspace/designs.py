"""Saved designs: named lr-schedule/v1 configs, versioned in place, with notes, tags and undo.

A design's name is unique among the designs that are not deleted; saving under a taken name stores
a new version of that design.  ``delete_design`` marks it deleted, ``restore_design`` brings it back
(renamed ``"<name> (2)"`` when its name was taken meanwhile).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from ..build import load_config
from ..design import ScheduleConfig
from .connection import Store
from .errors import WorkspaceError
from .records import (
    DESIGNS,
    Design,
    check_name,
    check_tags,
    check_text,
    config_hash,
    like_escape,
    new_uid,
    timestamp,
    to_json,
)

__all__ = ["DesignStore", "free_name", "latest_design"]


def free_name(conn: sqlite3.Connection, base: str) -> str:
    """``base``, else ``"<base> (2)"``, ``"<base> (3)"``, ...: the first name no live design has."""
    taken = {
        r[0]
        for r in conn.execute(
            "SELECT name FROM designs WHERE deleted IS NULL AND (name = ? OR name LIKE ? ESCAPE '\\')",
            (base, like_escape(base) + " (%)"),
        )
    }
    if base not in taken:
        return base
    i = 2
    while f"{base} ({i})" in taken:
        i += 1
    return f"{base} ({i})"


def latest_design(conn: sqlite3.Connection, digest: str) -> Design | None:
    """The most recently updated live design whose config has this hash (:func:`.records.config_hash`)."""
    return DESIGNS.first(conn, "hash = ? AND deleted IS NULL ORDER BY updated DESC LIMIT 1", (digest,))


class DesignStore(Store):
    """The designs of a workspace file (see the module docstring)."""

    def save_design(
        self,
        name: str,
        config: ScheduleConfig | str | Mapping[str, Any],
        *,
        notes: str | None = None,
        tags: Sequence[str] | None = None,
    ) -> Design:
        """Save ``config`` under ``name``: a new design, or a new version of the design of that name
        (its config, hash and ``updated`` change; ``created``, and notes/tags unless given, stay)."""
        name = check_name(name, "design name")
        if notes is not None:
            check_text(notes, "notes")
        cfg = config if isinstance(config, ScheduleConfig) else load_config(config)
        text, digest, now = cfg.to_json(), config_hash(cfg), timestamp()
        with self._write() as conn:
            row = conn.execute(
                "SELECT id FROM designs WHERE name = ? AND deleted IS NULL", (name,)
            ).fetchone()
            if row is None:
                design_id = DESIGNS.insert(
                    conn,
                    {
                        "uid": new_uid(),
                        "name": name,
                        "config": text,
                        "hash": digest,
                        "created": now,
                        "updated": now,
                        "notes": notes or "",
                        "tags": to_json(check_tags(tags)),
                    },
                )
            else:
                design_id = row["id"]
                conn.execute(
                    "UPDATE designs SET config = ?, hash = ?, updated = ? WHERE id = ?",
                    (text, digest, now, design_id),
                )
                if notes is not None:
                    conn.execute("UPDATE designs SET notes = ? WHERE id = ?", (notes, design_id))
                if tags is not None:
                    conn.execute(
                        "UPDATE designs SET tags = ? WHERE id = ?", (to_json(check_tags(tags)), design_id)
                    )
            return DESIGNS.get(conn, design_id)

    def designs(self, search: str = "", *, deleted: bool = False) -> list[Design]:
        """Designs, most recently updated first; ``search`` matches name, notes and tags (any case);
        ``deleted=True`` lists the deleted ones instead."""
        with self._read() as conn:
            return DESIGNS.listing(
                conn,
                deleted=deleted,
                order="updated DESC, id DESC",
                search=search,
                search_columns=("name", "notes", "tags"),
            )

    def design(self, ref: int | str) -> Design:
        """A design by id, or by name (not deleted); WorkspaceError when there is none."""
        with self._read() as conn:
            if isinstance(ref, int) or (isinstance(ref, str) and ref.isdecimal()):
                found = DESIGNS.first(conn, "id = ?", (int(ref),))
                if found is None and isinstance(ref, str):
                    found = DESIGNS.first(conn, "name = ? AND deleted IS NULL", (ref,))
            else:
                found = DESIGNS.first(conn, "name = ? AND deleted IS NULL", (" ".join(str(ref).split()),))
        if found is None:
            raise WorkspaceError(f"design: no design {ref!r} in {self.path}", invalid=True)
        return found

    def rename_design(self, design_id: int, new_name: str) -> Design:
        new_name = check_name(new_name, "new name")
        with self._write() as conn:
            clash = conn.execute(
                "SELECT id FROM designs WHERE name = ? AND deleted IS NULL AND id != ?", (new_name, design_id)
            ).fetchone()
            if clash is not None:
                raise WorkspaceError(f"new name: a design named {new_name!r} already exists", invalid=True)
            cur = conn.execute(
                "UPDATE designs SET name = ?, updated = ? WHERE id = ? AND deleted IS NULL",
                (new_name, timestamp(), design_id),
            )
            if cur.rowcount != 1:
                raise WorkspaceError(f"design: no design with id {design_id}", invalid=True)
            return DESIGNS.get(conn, design_id)

    def update_design(
        self, design_id: int, *, notes: str | None = None, tags: Sequence[str] | None = None
    ) -> Design:
        if notes is not None:
            check_text(notes, "notes")
        with self._write() as conn:
            if notes is not None:
                conn.execute(
                    "UPDATE designs SET notes = ?, updated = ? WHERE id = ?", (notes, timestamp(), design_id)
                )
            if tags is not None:
                conn.execute(
                    "UPDATE designs SET tags = ?, updated = ? WHERE id = ?",
                    (to_json(check_tags(tags)), timestamp(), design_id),
                )
            return DESIGNS.get(conn, design_id)

    def duplicate_design(self, design_id: int, new_name: str | None = None) -> Design:
        """A copy (same config, notes and tags) named ``new_name``, else ``"<name> (copy)"``, made unique."""
        src = self.design(design_id)
        with self._write() as conn:
            name = check_name(new_name, "new name") if new_name else src.name + " (copy)"
            name = free_name(conn, name)
            now = timestamp()
            copy_id = DESIGNS.insert(
                conn,
                {
                    "uid": new_uid(),
                    "name": name,
                    "config": src.config,
                    "hash": src.hash,
                    "created": now,
                    "updated": now,
                    "notes": src.notes,
                    "tags": to_json(src.tags),
                },
            )
            return DESIGNS.get(conn, copy_id)

    def delete_design(self, design_id: int) -> None:
        """Mark deleted (undo with :meth:`restore_design`)."""
        with self._write() as conn:
            DESIGNS.mark_deleted(conn, design_id)

    def restore_design(self, design_id: int) -> Design:
        """Undo a delete; the design gets ``"<name> (2)"`` when its name was taken meanwhile."""
        with self._write() as conn:
            design = DESIGNS.get(conn, design_id)
            if design.deleted is not None:
                name = free_name(conn, design.name)
                conn.execute("UPDATE designs SET deleted = NULL, name = ? WHERE id = ?", (name, design_id))
            return DESIGNS.get(conn, design_id)

    def design_for(self, config: ScheduleConfig | str) -> Design | None:
        """The most recently updated saved design with this exact config, if any."""
        digest = config_hash(config)
        with self._read() as conn:
            return latest_design(conn, digest)
