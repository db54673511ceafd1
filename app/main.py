"""LR Schedule Studio: the Streamlit entrypoint. It only routes; pages live in app/pages/."""

import streamlit as st


def _designer_placeholder() -> None:
    st.title("LR Schedule Studio")
    st.info("The schedule designer is coming soon.")


st.set_page_config(page_title="LR Schedule Studio", layout="wide")
page = st.navigation([st.Page(_designer_placeholder, title="Designer", url_path="designer", default=True)])
page.run()
