"""Stored conversations: the store and its schema, runs, branches, import and export."""
