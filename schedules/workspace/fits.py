"""Forecast fits: a loss law fitted on runs (its name, parameters, the runs' ids, what it reports)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .connection import Store
from .errors import WorkspaceError
from .records import FITS, Fit, check_name, like, new_uid, timestamp, to_json

__all__ = ["FitStore"]


class FitStore(Store):
    """The forecast fits of a workspace file."""

    def save_fit(
        self,
        name: str,
        law: str,
        params: Mapping[str, Any],
        runs: Sequence[int] = (),
        meta: Mapping[str, Any] | None = None,
    ) -> Fit:
        """A fitted loss law: its name (e.g. ``multi-power``), parameters and source runs (ids)."""
        name = check_name(name, "fit name")
        if not isinstance(law, str) or not law.strip():
            raise WorkspaceError(f"law: must be a non-empty name, got {law!r}", invalid=True)
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO fits (uid, name, law, params, runs, created, meta) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    new_uid(),
                    name,
                    law,
                    to_json(dict(params)),
                    to_json([int(r) for r in runs]),
                    timestamp(),
                    to_json(dict(meta or {})),
                ),
            )
            return FITS.get(conn, cur.lastrowid)

    def fits(self, search: str = "", *, deleted: bool = False) -> list[Fit]:
        sql = "SELECT * FROM fits WHERE deleted IS " + ("NOT NULL" if deleted else "NULL")
        args: list[Any] = []
        if search.strip():
            sql += " AND (name LIKE ? ESCAPE '\\' OR law LIKE ? ESCAPE '\\')"
            args += [like(search.strip())] * 2
        with self._read() as conn:
            return [FITS.record(r) for r in conn.execute(sql + " ORDER BY created DESC, id DESC", args)]

    def fit(self, fit_id: int) -> Fit:
        with self._read() as conn:
            return FITS.get(conn, int(fit_id))

    def delete_fit(self, fit_id: int) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE fits SET deleted = ? WHERE id = ? AND deleted IS NULL", (timestamp(), fit_id)
            )

    def restore_fit(self, fit_id: int) -> Fit:
        with self._write() as conn:
            conn.execute("UPDATE fits SET deleted = NULL WHERE id = ?", (fit_id,))
        return self.fit(fit_id)
