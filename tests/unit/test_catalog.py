"""The Phi catalog: every family with per-provider ids, context lengths and capabilities."""

from __future__ import annotations

from services.models import catalog


def test_family_is_complete():
    fams = set(catalog.families())
    for fam in ("Phi-3-mini", "Phi-3-small", "Phi-3-medium", "Phi-3.5-mini", "Phi-3-vision",
                "Phi-3.5-vision", "Phi-3.5-MoE", "SmolLM2-135M"):
        assert fam in fams
    keys = {m.key for m in catalog.models()}
    assert {"phi-3-mini-4k", "phi-3-mini-128k"} <= keys


def test_ids_context_and_capabilities():
    mini = catalog.by_key("phi-3.5-mini")
    assert mini.id_for("github") == "microsoft/phi-3.5-mini-instruct"
    assert mini.id_for("ollama") == "phi3.5" and mini.context_length == 131072
    assert catalog.by_key("phi-3-mini-4k").context_length == 4096
    vision = catalog.by_key("phi-3.5-vision")
    caps = vision.capabilities(local=False)
    assert caps.images and caps.max_images > 1 and not caps.local
    assert catalog.by_key("phi-3.5-moe").moe
    assert catalog.by_key("smollm2-135m").id_for("embedded") == "smollm2-135m-instruct"


def test_lookup_is_case_insensitive_and_knows_ollama_latest():
    assert catalog.find("github", "microsoft/Phi-3.5-MoE-instruct").key == "phi-3.5-moe"
    assert catalog.find("ollama", "phi3.5:latest").key == "phi-3.5-mini"
    assert catalog.find("ollama", "llava-phi3").images
    assert catalog.find("nim", "nope") is None


def test_guess_prefers_the_longest_name():
    assert catalog.guess("Phi-3.5-mini-instruct-Q4_K_M.gguf").key == "phi-3.5-mini"
    assert catalog.family_of("openai", "smollm2-135m-instruct") == "SmolLM2-135M"
    assert catalog.family_of("openai", "my-own-model") == "my-own-model"


def test_every_cloud_id_is_unique_per_provider():
    for provider in catalog.PROVIDERS:
        ids = [mid.lower() for mid, _ in catalog.ids_for(provider)]
        assert len(ids) == len(set(ids)), provider
