"""Models installed on this machine, by runtime: a folder per model under the models dir."""

from __future__ import annotations

import json
import os
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from services.errors import BadRequest
from services.types import Target

# what marks a folder (or file) as a model for each runtime
MARKERS = {"onnx": "genai_config.json", "transformers": "config.json"}
KINDS = ("onnx", "transformers", "gguf")
# the backend that runs each kind of installed model (targets are backend:name)
BACKEND_OF_KIND = {"onnx": "onnx", "transformers": "transformers", "gguf": "llamacpp"}
KIND_OF_BACKEND = {b: k for k, b in BACKEND_OF_KIND.items()}
# written next to a downloaded model: where it came from (dot-names are skipped by installed())
SOURCE_FILE = ".source.json"
VARIANTS_FILE = Path(__file__).with_name("local_variants.toml")
GGUF_MAGIC = b"GGUF"


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
    for fam in ("phi-tiny-moe", "phi-mini-moe", "phi-3.5-moe", "phi-3.5-vision", "phi-3.5-mini", "phi-3-vision", "phi-3-medium",
                "phi-3-small", "phi-3-mini"):
        if fam in low:
            return "Phi" + fam[3:].replace("moe", "MoE")
    return name


# ---- the catalog of downloadable variants ---------------------------------------------------

@dataclass(frozen=True)
class Variant:
    """One runnable local build of a model: which repo files, how big, how much memory."""

    model: str
    variant: str
    runtime: str
    repo: str
    label: str = ""
    subfolder: str = ""
    file: str = ""
    patterns: tuple[str, ...] = ()
    download_gb: float = 0.0
    memory_gb: float = 0.0
    context: int = 4096
    # the weights' format, as measured.toml's efficiency keys spell it after the runtime (Q4_K_M, int4, bf16)
    format: str = ""
    vision: bool = False
    moe: bool = False
    # MoE models: parameters in all experts vs those one token uses (billions, from the model card)
    params_b: float = 0.0
    active_params_b: float = 0.0
    revision: str = "main"

    @property
    def key(self) -> str:
        """model/variant, unique in the catalog."""
        return f"{self.model}/{self.variant}"

    @property
    def allow_patterns(self) -> list[str]:
        """What huggingface_hub fetches for this variant: one subfolder, one file, or patterns."""
        if self.subfolder:
            return [f"{self.subfolder.strip('/')}/*"]
        if self.file:
            return [self.file]
        return list(self.patterns)

    @property
    def installed_name(self) -> str:
        """The name it is installed under (the model part of its target)."""
        return f"{self.model}-{self.variant.removeprefix('gguf-')}" if self.runtime == "gguf" else self.model

    @property
    def target(self) -> str:
        """The target it becomes once installed."""
        return f"{BACKEND_OF_KIND[self.runtime]}:{self.installed_name}"

    def to_dict(self) -> dict:
        """Plain dict for --json and the page."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d.update(patterns=list(self.patterns), key=self.key, target=self.target)
        return d


def _load_variants(path: Path) -> list[Variant]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadRequest(f"Could not read the variants file {path}: {exc}") from exc
    out = []
    for row in data.get("variant", []):
        row = dict(row)
        row["patterns"] = tuple(row.get("patterns", ()))
        try:
            v = Variant(**row)
        except TypeError as exc:
            raise BadRequest(f"A variant in {path} has an unknown or missing field: {exc}") from exc
        if v.runtime not in KINDS:
            raise BadRequest(f"Variant {v.key} in {path}: runtime must be one of {', '.join(KINDS)}.")
        out.append(v)
    return out


def variants() -> list[Variant]:
    """Every variant: ours, then any from $PHI_PLAYGROUND_VARIANTS (same format, wins on clashes)."""
    found = {v.key: v for v in _load_variants(VARIANTS_FILE)}
    extra = os.environ.get("PHI_PLAYGROUND_VARIANTS")
    if extra:
        found.update({v.key: v for v in _load_variants(Path(extra).expanduser())})
    return list(found.values())


def find_variant(model: str, variant: str | None = None) -> Variant:
    """A variant by model id (and variant name; the first listed when omitted), or a clear error."""
    if "/" in model and variant is None:
        model, variant = model.split("/", 1)  # the model/variant key form
    rows = [v for v in variants() if v.model == model]
    if not rows:
        known = ", ".join(sorted({v.model for v in variants()}))
        raise BadRequest(f"No downloadable model named {model!r}. Known models: {known}.")
    if variant is None:
        return rows[0]
    for v in rows:
        if v.variant == variant:
            return v
    raise BadRequest(f"{model} has no variant {variant!r}; its variants: {', '.join(v.variant for v in rows)}.")


# ---- sizes and disk space ---------------------------------------------------------------------

def size_of(path: Path) -> int:
    """Bytes a file or folder takes (symlinks count as nothing: the files are someone else's)."""
    path = Path(path)
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            p = Path(dirpath) / name
            if not p.is_symlink():
                try:
                    total += p.stat().st_size
                except OSError:
                    pass  # a partial file vanished between listing and stat
    return total


def disk_free(path: Path | None = None) -> int:
    """Free bytes on the disk that holds path (the nearest existing parent)."""
    path = Path(path or models_root())
    for p in [path, *path.parents]:
        if p.exists():
            return shutil.disk_usage(p).free
    return 0


def machine_memory() -> int | None:
    """Total RAM in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def human(n: float | None) -> str:
    """1536 -> '1.5 KB'; decimal units, as disks and the hub report them."""
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


# ---- what is on disk, and bring-your-own checks ----------------------------------------------

@dataclass(frozen=True)
class LocalModel:
    """One installed model: downloaded here, or a link to the user's own folder or file."""

    kind: str
    name: str
    path: Path
    size: int
    linked: bool = False
    source: dict = field(default_factory=dict)

    @property
    def target(self) -> str:
        return f"{BACKEND_OF_KIND[self.kind]}:{self.name}"

    def to_dict(self) -> dict:
        return {"target": self.target, "kind": self.kind, "name": self.name, "path": str(self.path),
                "size_bytes": self.size, "linked": self.linked, "source": self.source,
                "family": family_of(self.name)}


def source_path(kind: str, name: str) -> Path:
    """Where the provenance note of an installed model lives."""
    return models_root() / kind / f".{name}{SOURCE_FILE}"


def all_installed() -> list[LocalModel]:
    """Every installed model of every kind, with its size and where it came from."""
    out = []
    for kind in KINDS:
        for name, path in installed(kind):
            try:
                source = json.loads(source_path(kind, name).read_text())
            except (OSError, ValueError):
                source = {}
            out.append(LocalModel(kind, name, path, size_of(path), path.is_symlink(), source))
    return out


def _missing(folder: Path, groups: list[tuple[str, ...]]) -> list[str]:
    """For each group of alternatives, name it when none of them is in the folder."""
    out = []
    for group in groups:
        if not any(list(folder.glob(pattern)) for pattern in group):
            out.append(" or ".join(group))
    return out


def inspect(path: str | Path) -> tuple[str, Path]:
    """(kind, path) when path is a model this app can run; BadRequest naming what is missing if not.

    Only reads names, sizes and small JSON/magic bytes: nothing in the path is ever executed.
    """
    p = Path(str(path)).expanduser()
    if not str(path).strip() or not p.exists():
        raise BadRequest(f"Nothing at {str(path)!r}: give the path of a model folder or a .gguf file.")
    p = p.resolve()
    if p.is_file():
        with open(p, "rb") as fh:
            magic = fh.read(4)
        if magic != GGUF_MAGIC:
            raise BadRequest(f"{p.name} is not a GGUF file (it does not start with the GGUF magic bytes); "
                             "add a .gguf file, or a folder with genai_config.json or config.json.")
        return "gguf", p
    if not p.is_dir():
        raise BadRequest(f"{p} is neither a file nor a folder.")
    if (p / "genai_config.json").is_file():
        missing = _missing(p, [("*.onnx",), ("tokenizer.json", "tokenizer_config.json")])
        try:
            cfg = json.loads((p / "genai_config.json").read_text())
            decoder = cfg["model"]["decoder"]["filename"]
        except (OSError, ValueError, KeyError, TypeError):
            raise BadRequest(f"{p.name}/genai_config.json is not a valid ONNX Runtime GenAI config "
                             "(model.decoder.filename is missing).") from None
        if not (p / decoder).is_file() and "*.onnx" not in missing:
            missing.append(decoder)
        if missing:
            raise BadRequest(f"{p.name} has genai_config.json but is missing {', '.join(missing)}.")
        return "onnx", p
    if (p / "config.json").is_file():
        missing = _missing(p, [("*.safetensors", "pytorch_model*.bin"),
                               ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")])
        if missing:
            raise BadRequest(f"{p.name} has config.json but is missing {', '.join(missing)} "
                             "(the weights and tokenizer transformers needs).")
        return "transformers", p
    ggufs = sorted(x for x in p.glob("*.gguf") if x.is_file())
    if len(ggufs) == 1:
        return inspect(ggufs[0])
    if ggufs:
        raise BadRequest(f"{p.name} holds {len(ggufs)} .gguf files ({', '.join(g.name for g in ggufs[:4])}); "
                         "add the one you want by its file path.")
    raise BadRequest(f"{p.name} is not a model folder: it has no genai_config.json (ONNX Runtime GenAI), "
                     "no config.json (transformers) and no .gguf file (llama.cpp).")


def safe_name(text: str) -> str:
    """A name usable as a folder and in a target: letters, digits, dot, dash, underscore."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-.").lower()
    if not name:
        raise BadRequest(f"{text!r} cannot be used as a model name; use letters, digits, '.', '-' or '_'.")
    return name[:80]


def add(path: str | Path, name: str | None = None) -> LocalModel:
    """Register the user's own model as a target by linking to it (nothing is copied or run)."""
    kind, p = inspect(path)
    name = safe_name(name or (p.stem if kind == "gguf" else p.name))
    dest_dir = models_root() / kind
    dest = dest_dir / (f"{name}.gguf" if kind == "gguf" else name)
    if dest.is_symlink() and not dest.exists():
        dest.unlink()  # a link to something the user has since moved or deleted
    if dest.exists():
        raise BadRequest(f"A {kind} model named {name} is already installed ({BACKEND_OF_KIND[kind]}:{name}); "
                         "pick another name.")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(p, target_is_directory=p.is_dir())
    source_path(kind, name).write_text(json.dumps({"added_from": str(p)}))
    return LocalModel(kind, name, dest, 0, True, {"added_from": str(p)})


def resolve_installed(ref: str) -> LocalModel:
    """An installed model from a target (onnx:NAME), kind/NAME, or a NAME that is unique."""
    models = all_installed()
    if ":" in ref:
        target = Target.parse(ref)
        rows = [m for m in models if m.kind == KIND_OF_BACKEND.get(target.backend) and m.name == target.model]
    elif "/" in ref and ref.split("/", 1)[0] in KINDS:
        kind, name = ref.split("/", 1)
        rows = [m for m in models if m.kind == kind and m.name == name]
    else:
        rows = [m for m in models if m.name == ref]
    if len(rows) == 1:
        return rows[0]
    if len(rows) > 1:
        raise BadRequest(f"{ref} is installed for several runtimes ({', '.join(m.target for m in rows)}); "
                         "name the target.")
    known = ", ".join(m.target for m in models) or "none"
    raise BadRequest(f"No installed model {ref!r}. Installed: {known}.")


def delete_files(model: LocalModel) -> int:
    """Remove an installed model from disk (only the link for added ones); bytes freed."""
    freed = 0 if model.linked else size_of(model.path)
    if model.path.is_symlink() or model.path.is_file():
        model.path.unlink()
    else:
        shutil.rmtree(model.path)
    source_path(model.kind, model.name).unlink(missing_ok=True)
    return freed
