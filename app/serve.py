"""Start the studio with the first chart's work done before the first visit.

    python -m app.serve [streamlit options]      # what `make run` and the Docker image start

``streamlit run app/main.py`` imports nothing until the first browser session arrives, so the first
visitor waits for torch, pandas, plotly and the default design's curve (seconds on a small machine).
This entry point imports exactly what the first chart needs and computes the default design's curve
and figure in this process, then hands over to ``streamlit run`` (same process, same caches).  Pages
that need more (transformers, tensorboard, matplotlib) still import it lazily when they are opened.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "app" / "main.py"


def warm() -> float:
    """Import the Designer's modules and fill the curve and figure caches for the default design."""
    start = time.perf_counter()
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from app import gc_policy, state, ui

    cfg = state.default_config()
    curve = ui.cached_curve(cfg.cache_key())
    ui.cached_figure(curve, x_axis="step", log_y=False, show_groups=True, show_epochs=True)
    # The one full collection over everything imported so far, before the server answers anyone.
    gc_policy.freeze_long_lived()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    seconds = warm()
    print(f"LR Schedule Studio: warmed the first chart in {seconds:.1f} s", flush=True)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(MAIN), *args]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
