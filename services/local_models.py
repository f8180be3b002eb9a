"""Models installed on this machine, by runtime: a folder per model under the models dir."""

from __future__ import annotations

import os
from pathlib import Path

# what marks a folder (or file) as a model for each runtime
MARKERS = {"onnx": "genai_config.json", "transformers": "config.json"}


def models_root() -> Path:
    """$PHI_PLAYGROUND_MODELS, else `models/` in the user data dir."""
    env = os.environ.get("PHI_PLAYGROUND_MODELS")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("phi-playground")) / "models"


def installed(kind: str) -> list[tuple[str, Path]]:
    """(name, path) of every complete model for this runtime, sorted by name."""
    root = models_root() / kind
    if not root.is_dir():
        return []
    out = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue  # partial downloads live in dot-folders
        if kind == "gguf" and entry.is_file() and entry.suffix == ".gguf":
            out.append((entry.stem, entry))
        elif kind in MARKERS and (entry / MARKERS[kind]).is_file():
            out.append((entry.name, entry))
    return out


def find(kind: str, name: str) -> Path | None:
    """The path of an installed model by name, or None."""
    return dict(installed(kind)).get(name)


def family_of(name: str) -> str:
    """A display family from a model name (phi-3.5-mini-instruct -> Phi-3.5-mini)."""
    low = name.lower()
    for fam in ("phi-3.5-moe", "phi-3.5-vision", "phi-3.5-mini", "phi-3-vision", "phi-3-medium",
                "phi-3-small", "phi-3-mini"):
        if fam in low:
            return "Phi" + fam[3:].replace("moe", "MoE")
    return name
