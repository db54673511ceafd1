"""LR Schedule Studio: the Streamlit app (thin pages over the ``schedules`` library)."""
