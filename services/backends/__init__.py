"""Backend registry: names to classes, imported lazily so an unused SDK never loads."""

from __future__ import annotations

import importlib
import threading

from services.backends.base import Backend
from services.errors import BadRequest

# name -> "module:Class"; each backend lives in its own file
REGISTRY: dict[str, str] = {
    "onnx": "services.backends.onnx.backend:OnnxBackend",
    "transformers": "services.backends.transformers.backend:TransformersBackend",
    "ocr": "services.backends.ocr_backend:OcrBackend",
    "llamacpp": "services.backends.llamacpp_backend:LlamaCppBackend",
    "ollama": "services.backends.ollama_backend:OllamaBackend",
    "github": "services.backends.openai_backend:GitHubBackend",
    "azure": "services.backends.openai_backend:AzureBackend",
    "nim": "services.backends.openai_backend:NimBackend",
    "openai": "services.backends.openai_backend:CustomOpenAIBackend",
}

_instances: dict[str, Backend] = {}
_lock = threading.Lock()


def backend_names() -> list[str]:
    """Every registered backend name."""
    return list(REGISTRY)


def instances() -> list[Backend]:
    """The backends created so far in this process (none is created by asking)."""
    with _lock:
        return list(_instances.values())


def get_backend(name: str) -> Backend:
    """The process-wide instance of a backend (models it loads are shared by all sessions)."""
    if name not in REGISTRY:
        raise BadRequest(f"Unknown backend {name!r}; known backends: {', '.join(REGISTRY)}.")
    with _lock:
        if name not in _instances:
            module_name, cls_name = REGISTRY[name].split(":")
            backend = getattr(importlib.import_module(module_name), cls_name)()
            if not isinstance(backend, Backend):  # a programming error, caught by the registry test
                raise TypeError(f"{cls_name} does not implement every method of the Backend protocol.")
            _instances[name] = backend
        return _instances[name]
