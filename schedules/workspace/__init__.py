"""The studio's workspace: designs, runs and forecast fits that outlive the browser tab.

One SQLite file (standard library ``sqlite3``, WAL mode) under the workspace folder:
``$STUDIO_WORKSPACE`` when set, else ``~/.lr-schedule-studio``.  See :mod:`.store` for the
guarantees and the tour of the modules below it, :mod:`.schema` for the versions, :mod:`.codec` for
how a run's rows are packed and :mod:`.sink` for saving a live run as it records.  CLI:
``python -m schedules workspace ...``.
"""

from .connection import ENV_VAR, workspace_dir, workspace_path
from .errors import WorkspaceError
from .records import Design, Fit, RunInfo, config_hash
from .schema import SCHEMA_VERSION
from .sink import WorkspaceSink
from .store import Workspace

__all__ = [
    "ENV_VAR",
    "SCHEMA_VERSION",
    "Design",
    "Fit",
    "RunInfo",
    "Workspace",
    "WorkspaceError",
    "WorkspaceSink",
    "config_hash",
    "workspace_dir",
    "workspace_path",
]
