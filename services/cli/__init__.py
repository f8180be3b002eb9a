"""CLI commands, one module each; shared flag helpers live in common.py."""
