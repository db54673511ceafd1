"""Injected by ``python -m schedules trace`` into every Python process of the traced command.

Python imports ``sitecustomize`` at start-up from the first folder of ``sys.path`` that holds one;
the trace command puts this folder first on ``PYTHONPATH``, so every Python process the command
starts (``python train.py``, ``torch.multiprocessing`` spawn children, ``torchrun`` and
``accelerate launch`` workers) runs this module.  It costs a process almost nothing:

- without ``LRS_TRACE_DIR`` in the environment it only runs the ``sitecustomize`` it shadows;
- with it, it adds one finder to ``sys.meta_path`` that waits for ``import torch``.  When torch has
  finished importing, :func:`schedules.trace.hooks.install_from_env` hooks it.  A process that never
  imports torch (pip, a shell helper) never imports the tracer, nor torch.

A tracer that cannot start prints one line to stderr and the user's program goes on untraced: the
command itself is never broken by its tracer.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_ENV_DIR = "LRS_TRACE_DIR"


def _start_tracer() -> None:
    try:
        from schedules.trace.hooks import install_from_env

        install_from_env()
    except Exception as exc:  # never break the user's program
        sys.stderr.write(f"lr-trace: not tracing this process ({type(exc).__name__}: {exc})\n")


class _TorchWatch:
    """A ``sys.meta_path`` finder that only watches for ``torch`` and hooks it once imported."""

    def find_spec(self, name, path=None, target=None):  # noqa: ARG002 - the finder protocol
        if name != "torch":
            return None
        import importlib.util

        try:
            sys.meta_path.remove(self)  # once: the other finders find torch itself
        except ValueError:
            pass
        spec = importlib.util.find_spec("torch")
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        run = loader.exec_module

        def exec_module(module):
            run(module)
            _start_tracer()

        loader.exec_module = exec_module
        return spec


def _shadowed_sitecustomize() -> None:
    """Run the ``sitecustomize`` this module shadows (the next one on ``sys.path``), as site would."""
    for entry in list(sys.path):
        folder = os.path.abspath(entry or os.curdir)
        if folder == _HERE:
            continue
        candidate = os.path.join(folder, "sitecustomize.py")
        if os.path.isfile(candidate):
            try:  # imported from its own file, as site would have imported it
                import importlib.util

                spec = importlib.util.spec_from_file_location("sitecustomize", candidate)
                if spec is not None and spec.loader is not None:
                    spec.loader.exec_module(importlib.util.module_from_spec(spec))
            except Exception as exc:  # as site.execsitecustomize reports it
                sys.stderr.write(f"Error in sitecustomize ({candidate}); set PYTHONVERBOSE for traceback:\n")
                sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
            return


if os.environ.get(_ENV_DIR):
    if "torch" in sys.modules:  # imported already (e.g. by a .pth file): hook it now
        _start_tracer()
    else:
        sys.meta_path.insert(0, _TorchWatch())
_shadowed_sitecustomize()
