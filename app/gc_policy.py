"""Keep Streamlit's garbage collection after every script run cheap.

Streamlit runs ``gc.collect(2)`` after each script run (``runner.postScriptGC``, on by default, kept
on: a run's cyclic garbage, pandas frames and Plotly figures among it, is freed at once).  With
torch, pandas, plotly and Streamlit loaded that full collection walks about 400,000 long-lived objects
(module dicts, functions, classes) and takes 0.3-0.4 s holding the GIL: every rerun of every session
paid it, and the web server's event loop (health checks, other sessions' messages) waited behind it.

:func:`freeze_long_lived` moves the objects alive now into the collector's permanent generation
(``gc.freeze``), so later collections walk only what was allocated since.  ``python -m app.serve``
calls it once its imports and the first chart are done (before the server answers), and the app
calls it after a page run whenever modules were imported since (the first run, a page that imports
transformers or matplotlib lazily).  Each call first collects the objects not yet frozen (cheap: only
those), so garbage is never frozen.  The cost: an object alive at a freeze that later becomes part of
unreachable *cycles* is not collected (reference counting still frees everything else).  Freezes
happen only when the set of imported modules grows, a handful of times in a server's life, so that is
bounded by what was alive then (the bounded caches of app/caches.py and the sessions then open).
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
        gc.collect(2)  # walks only the objects not frozen yet
        gc.freeze()
        _modules_at_freeze = len(sys.modules)
        return True
