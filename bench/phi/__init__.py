"""`python -m bench phi`: Phi-3/3.5-shaped random-weight models, built with the users' converters, measured per runtime."""
