"""Keep Streamlit's garbage collection after every script run cheap.

Streamlit runs ``gc.collect(2)`` after each script run (``runner.postScriptGC``, on by default, kept
on: a run's cyclic garbage, pandas frames and Plotly figures among it, is freed at once).  With
torch, pandas, plotly and Streamlit loaded that full collection walks about 400,000 long-lived objects
(module dicts, functions, classes) and takes 0.3-0.4 s, holding the GIL: every rerun of every session
paid it, and the web server's event loop (health checks, other sessions' messages) waited behind it.

:func:`freeze_long_lived` moves the objects alive once imports are done into the collector's permanent
generation (``gc.freeze``), so the per-run collection only walks what was allocated since.  It runs
when the set of imported modules has grown (the first run, a page that imports transformers or
matplotlib lazily): it unfreezes, collects everything (garbage frozen last time included, so nothing
leaks across freezes) and freezes again.  Between freezes, cyclic garbage among frozen objects is
not collected; reference counting still frees everything else.  That is bounded by what was alive at
the last freeze (the bounded caches of app/caches.py and the sessions then open).
"""

from __future__ import annotations

import gc
import sys
import threading

_lock = threading.Lock()
_modules_at_freeze = 0


def freeze_long_lived() -> bool:
    """Freeze the objects alive now if modules were imported since the last freeze; True if it did."""
    global _modules_at_freeze
    if len(sys.modules) == _modules_at_freeze:
        return False
    with _lock:
        if len(sys.modules) == _modules_at_freeze:
            return False
        gc.unfreeze()
        gc.collect(2)
        gc.freeze()
        _modules_at_freeze = len(sys.modules)
        return True
