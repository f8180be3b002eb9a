"""Phi Playground entry point: navigation over app_pages/ and the shared sidebar, nothing else."""

from pathlib import Path

import streamlit as st

st.set_page_config(page_title="Phi Playground", page_icon="🧪", layout="wide")

ROOT = Path(__file__).parent
# (file, title, icon); a page joins the menu as soon as its file exists
PAGES = [
    ("app_pages/chat.py", "Chat", "💬"),
    ("app_pages/vision.py", "Vision", "🖼️"),
    ("app_pages/moe.py", "MoE reasoning", "🧠"),
    ("app_pages/compare.py", "Compare", "⚖️"),
    ("app_pages/models.py", "Models", "🗂️"),
]

pages = [
    st.Page(str(ROOT / path), title=title, icon=icon, default=(i == 0))
    for i, (path, title, icon) in enumerate(PAGES)
    if (ROOT / path).exists()
]
with st.sidebar:
    st.markdown("### 🧪 Phi Playground")
    st.caption("Phi-3 / Phi-3.5 and a built-in SmolLM2, local or in the cloud.")
st.navigation(pages, position="sidebar").run()
