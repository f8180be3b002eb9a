"""A runnable Python script that reproduces a chat request on its target's own runtime."""

from __future__ import annotations

import importlib

from services.codegen.script import Script
from services.errors import BadRequest
from services.types import ChatRequest, Target

__all__ = ["Script", "script_for", "script_targets", "RUNTIMES"]

# backend name -> the module whose script(request) writes that runtime's script
RUNTIMES: dict[str, str] = {
    "onnx": "services.codegen.onnx_script",
    "transformers": "services.codegen.transformers_script",
    "llamacpp": "services.codegen.llamacpp_script",
    "ollama": "services.codegen.ollama_script",
    "github": "services.codegen.openai_script",
    "azure": "services.codegen.openai_script",
    "nim": "services.codegen.openai_script",
    "openai": "services.codegen.openai_script",
}
# local runtimes whose image path (a vision processor) has no script yet
TEXT_ONLY_SCRIPTS = ("onnx", "transformers", "llamacpp")


def script_targets(request: ChatRequest, infos) -> list[Target]:
    """The request's own target, then one target per other runtime listed with the same model family
    (TargetInfo.family) that has a script: the same request, written for each runtime that serves it."""
    own = request.target
    family = next((i.family for i in infos if i.target == str(own)), "")
    out, backends = [own], {own.backend}
    for info in infos if family else ():
        t = Target.parse(info.target)
        if info.family == family and t.backend in RUNTIMES and t.backend not in backends:
            backends.add(t.backend)
            out.append(t)
    return out


def script_for(request: ChatRequest, *, inline_images: bool = False) -> Script:
    """The script for this request; BadRequest says in one sentence when a runtime has none.

    Images go beside the script as files, or with inline_images into the script itself as base64
    (one file to print or paste, larger).
    """
    backend = request.target.backend
    if backend == "ocr":
        raise BadRequest("The offline image reader (OCR, then the embedded model) is the playground's own "
                         "pipeline, not one runtime call, so it has no script; pick a vision target to get one.")
    if backend not in RUNTIMES:
        raise BadRequest(f"There is no script for {backend} targets; scripts exist for "
                         f"{', '.join(sorted(RUNTIMES))}.")
    if backend in TEXT_ONLY_SCRIPTS and any(m.images for m in request.messages):
        raise BadRequest(f"Scripts for {backend} cover text requests; this one carries images. "
                         "Ollama and the OpenAI-compatible targets write scripts with images.")
    module = importlib.import_module(RUNTIMES[backend])
    if inline_images and any(m.images for m in request.messages):
        return module.script(request, inline_images=True)
    return module.script(request)
