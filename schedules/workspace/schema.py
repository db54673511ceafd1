"""The workspace's SQLite schema and its migrations.

The schema version is SQLite's ``PRAGMA user_version``; ``PRAGMA application_id`` marks the file as
a studio workspace (:data:`APPLICATION_ID`), so any other SQLite file is refused rather than altered.
``MIGRATIONS[v]`` takes a file from version ``v`` to ``v + 1`` (version 0 is an empty file); a new
file runs them all.  A test builds a file at every earlier version, fills it, and opens it with the
current code.

======  =====================================================================================
v1      designs, runs (+ run_chunks: a run's rows in compressed column blocks), fits
v2      soft delete (``deleted`` on designs, runs and fits: delete with undo); a ``uid`` on every
        record, so importing the same export twice adds nothing; notes and tags on runs;
        design names unique among designs that are not deleted
======  =====================================================================================

**Adding a version:** append a migration (never edit a shipped one), bump nothing else
(:data:`SCHEMA_VERSION` is ``len(MIGRATIONS)``), and give ``tests/test_workspace.py``'s
``FILL`` a sample for the new version.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

#: ``PRAGMA application_id`` of a workspace file ("LRSS").
APPLICATION_ID = 0x4C525353

V1 = """
CREATE TABLE designs (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL,
    config   TEXT NOT NULL,              -- lr-schedule/v1 JSON
    hash     TEXT NOT NULL,              -- sha256 of the canonical config (ScheduleConfig.cache_key)
    created  REAL NOT NULL,              -- unix seconds
    updated  REAL NOT NULL,
    notes    TEXT NOT NULL DEFAULT '',
    tags     TEXT NOT NULL DEFAULT '[]'  -- JSON list of strings
);
CREATE UNIQUE INDEX designs_name ON designs(name);
CREATE INDEX designs_hash ON designs(hash);

CREATE TABLE runs (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL,             -- live | import
    design_id INTEGER REFERENCES designs(id) ON DELETE SET NULL,
    config    TEXT,                      -- the design the run used (JSON), when known
    hash      TEXT,
    stack     TEXT NOT NULL DEFAULT '',
    device    TEXT NOT NULL DEFAULT '',
    status    TEXT NOT NULL,             -- running | done | stopped | diverged | failed | imported
    message   TEXT NOT NULL DEFAULT '',
    columns   TEXT NOT NULL DEFAULT '[]',
    n_rows    INTEGER NOT NULL DEFAULT 0,
    created   REAL NOT NULL,
    updated   REAL NOT NULL,
    meta      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_created ON runs(created);

CREATE TABLE run_chunks (
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    first_row  INTEGER NOT NULL,
    n_rows     INTEGER NOT NULL,
    data       BLOB NOT NULL,            -- codec.encode_columns
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE fits (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL,
    law      TEXT NOT NULL,
    params   TEXT NOT NULL,              -- JSON object
    runs     TEXT NOT NULL DEFAULT '[]', -- JSON list of the source runs' ids
    created  REAL NOT NULL,
    meta     TEXT NOT NULL DEFAULT '{}'
);
"""

V2 = """
ALTER TABLE designs ADD COLUMN uid TEXT;
ALTER TABLE designs ADD COLUMN deleted REAL;
ALTER TABLE runs ADD COLUMN uid TEXT;
ALTER TABLE runs ADD COLUMN deleted REAL;
ALTER TABLE runs ADD COLUMN notes TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE fits ADD COLUMN uid TEXT;
ALTER TABLE fits ADD COLUMN deleted REAL;
UPDATE designs SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;
UPDATE runs SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;
UPDATE fits SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL;
CREATE UNIQUE INDEX designs_uid ON designs(uid);
CREATE UNIQUE INDEX runs_uid ON runs(uid);
CREATE UNIQUE INDEX fits_uid ON fits(uid);
DROP INDEX designs_name;
CREATE UNIQUE INDEX designs_live_name ON designs(name) WHERE deleted IS NULL;
"""


def _script(sql: str) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)

    return run


#: ``MIGRATIONS[v]`` upgrades a version-``v`` file to ``v + 1``, inside the caller's transaction.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_script(V1), _script(V2)]
SCHEMA_VERSION = len(MIGRATIONS)
