"""The HTTP edge of the app: security headers and the access rule, as plain ASGI (no Streamlit import)."""
