"""LR Schedule Studio: the Streamlit entrypoint. It only routes; pages live in app/views/.

(Not ``app/pages/``: a folder of that name switches on Streamlit's legacy file-based routing, under
which a fresh server's first request for ``/compare`` ran the page without this router.)

``streamlit run app/main.py`` puts ``app/`` (this file's folder) on ``sys.path``, not the repository
root, so the root is added here once: pages then import ``app.charts``, ``app.state`` ... and the
``schedules`` package from this checkout, whatever the working directory (AppTest does the same).
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

from app import gc_policy, state  # noqa: E402

st.set_page_config(page_title="LR Schedule Studio", page_icon=":material/show_chart:", layout="wide")
state.init_session()  # the current design: from a ?design= link, else the default

# The default page is served at "/" and answers to no other path, so /designer (a deep link a user
# types or shares) would be "Page not found": a hidden second entry for the same script answers there.
pages = [
    st.Page(
        "views/designer/page.py",
        title="Designer",
        icon=":material/show_chart:",
        url_path="home",
        default=True,
    ),
    st.Page("views/compare.py", title="Compare", icon=":material/stacked_line_chart:", url_path="compare"),
    st.Page("views/live.py", title="Live run", icon=":material/monitoring:", url_path="live"),
    st.Page("views/interop.py", title="Import / export", icon=":material/swap_horiz:", url_path="interop"),
    st.Page("views/logs.py", title="Run logs", icon=":material/query_stats:", url_path="logs"),
    st.Page("views/library.py", title="Library", icon=":material/folder_open:", url_path="library"),
    st.Page("views/forecast.py", title="Forecast", icon=":material/timeline:", url_path="forecast"),
    st.Page(
        "views/designer/page.py",
        title="Designer",
        icon=":material/show_chart:",
        url_path="designer",
        visibility="hidden",
    ),
]
try:
    st.navigation(pages, position="top").run()
finally:
    # After the page (also when it ends with st.stop() or st.rerun(), as Forecast does before a fit):
    # its imports are done, so the collection Streamlit runs next walks only new objects.
    gc_policy.freeze_long_lived()
