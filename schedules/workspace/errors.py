"""The one error the workspace raises: what it cannot do, and whether the input was at fault."""

from __future__ import annotations

__all__ = ["WorkspaceError"]


class WorkspaceError(RuntimeError):
    """The workspace cannot do what was asked; the message says why (shown as is, never a traceback).

    ``invalid`` is true when the cause is the input (a bad name, a file that is not a workspace or
    comes from a newer version): the CLI then exits 2, else 1."""

    def __init__(self, message: str, *, invalid: bool = False):
        super().__init__(message)
        self.invalid = invalid
