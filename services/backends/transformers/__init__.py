"""Hugging Face transformers: text, vision, the fast decode path, the worker and MoE routing hooks."""
