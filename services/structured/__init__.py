"""Structured output: read a schema a person gave, check answers against it, map it to each runtime."""
