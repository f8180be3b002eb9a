"""GenerationParams as onnxruntime-genai search options, shared by the text and vision paths."""

from __future__ import annotations


def search_options(p) -> dict:
    """GenerationParams as og search options (max_length is set by the caller)."""
    options = {"do_sample": not p.greedy, "repetition_penalty": p.penalty(local=True)}
    if not p.greedy:
        options.update(temperature=p.temperature, top_p=p.top_p)
        if p.top_k:
            options["top_k"] = p.top_k
    if p.seed is not None:
        options["random_seed"] = p.seed
    return options
