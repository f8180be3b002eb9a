"""Streamlit widgets shared by the pages; they call services/, never a runtime SDK."""
