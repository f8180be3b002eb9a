"""Phi Playground entry point: the server behind the security middleware, and the navigation every session runs.

`streamlit run app.py` finds `app` below and serves it through Streamlit's ASGI entry (st.App); the
runtime then runs this same file as each session's script, where `__name__` is "__main__".
"""

import os
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).parent

if __name__ == "__main__":
    st.set_page_config(page_title="Phi Playground", page_icon="🧪", layout="wide")

    # (file, title, icon); a page joins the menu as soon as its file exists
    PAGES = [
        ("app_pages/chat.py", "Chat", "💬"),
        ("app_pages/vision.py", "Vision", "🖼️"),
        ("app_pages/moe.py", "MoE reasoning", "🧠"),
        ("app_pages/compare.py", "Compare", "⚖️"),
        ("app_pages/evaluate.py", "Evaluate", "📏"),
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
else:
    from starlette.middleware import Middleware
    from streamlit import config as st_config

    from web import access, csp

    # the address is known here: `streamlit run` loaded the config and flags before importing this
    # module, and uvicorn serves nothing until the import returns, so a refusal comes first
    address = st_config.get_option("server.address")
    token = access.startup_token(address, dict(os.environ))
    index_html = (Path(st.__file__).parent / "static" / "index.html").read_text(encoding="utf-8")
    policy = csp.policy(csp.inline_script_hashes(index_html))
    app = st.App(
        __file__,
        # the first listed is outermost: headers go on every response, the gate's refusals too
        middleware=[Middleware(csp.SecurityHeaders, policy=policy), Middleware(access.TokenGate, token=token)],
    )
    print(access.welcome(address, st_config.get_option("server.port"), token), flush=True)
