"""Forecast fits: a loss law fitted on runs (its name, parameters, the runs' ids, what it reports)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .connection import Store
from .errors import WorkspaceError
from .records import FITS, Fit, check_name, new_uid, timestamp, to_json

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
            fit_id = FITS.insert(
                conn,
                {
                    "uid": new_uid(),
                    "name": name,
                    "law": law,
                    "params": to_json(dict(params)),
                    "runs": to_json([int(r) for r in runs]),
                    "created": timestamp(),
                    "meta": to_json(dict(meta or {})),
                },
            )
            return FITS.get(conn, fit_id)

    def fits(self, search: str = "", *, deleted: bool = False) -> list[Fit]:
        """Fits, newest first; ``search`` matches name and law (any case)."""
        with self._read() as conn:
            return FITS.listing(
                conn,
                deleted=deleted,
                order="created DESC, id DESC",
                search=search,
                search_columns=("name", "law"),
            )

    def fit(self, fit_id: int) -> Fit:
        with self._read() as conn:
            return FITS.get(conn, int(fit_id))

    def delete_fit(self, fit_id: int) -> None:
        with self._write() as conn:
            FITS.mark_deleted(conn, fit_id)

    def restore_fit(self, fit_id: int) -> Fit:
        with self._write() as conn:
            FITS.restore(conn, fit_id)
        return self.fit(fit_id)
