"""The folder ``python -m schedules trace`` puts first on the traced command's ``PYTHONPATH``.

It holds one module, ``sitecustomize.py``, which Python imports at the start of every process (see
:mod:`site`).  It does nothing unless ``LRS_TRACE_DIR`` is set; then it waits for the user's code to
import torch and installs :mod:`schedules.trace.hooks` right after.  It then runs the
``sitecustomize`` it shadows (Debian's, a virtualenv's), so the environment behaves as before.
"""
