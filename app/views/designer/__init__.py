"""The Designer page, one module per section (``page.py`` is the page ``st.navigation`` runs).

Imports point down: ``page`` on top, the sections below it, ``widgets`` at the bottom.
"""
