"""The model catalog: the Phi-3/3.5 family and the embedded model, with per-provider ids."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from services.types import Capabilities

CATALOG_FILE = Path(__file__).with_name("catalog.toml")
# the id fields an entry may carry, one per provider or runtime
PROVIDERS = ("github", "nim", "azure", "ollama", "hf", "onnx", "embedded")
# the cloud backends (served by the OpenAI-compatible backend) and who they map to in the catalog
CLOUD = ("github", "nim", "azure")


@dataclass(frozen=True)
class CatalogModel:
    """One model of the catalog and its id on each provider that serves it."""

    key: str
    name: str
    family: str
    version: str
    context_length: int
    params_b: float
    images: bool = False
    max_images: int = 0
    moe: bool = False
    active_params_b: float | None = None
    ids: dict = field(default_factory=dict)

    def id_for(self, provider: str) -> str | None:
        """This model's id on a provider, or None when that provider does not serve it."""
        return self.ids.get(provider)

    def capabilities(self, *, local: bool, ignored: frozenset[str] = frozenset()) -> Capabilities:
        """Capabilities as the chat service checks them."""
        return Capabilities(
            text=True, images=self.images, max_images=self.max_images if self.images else 0,
            moe_routing=False, context_length=self.context_length, ignored_params=ignored,
            local=local,
        )


def _entry(raw: dict) -> CatalogModel:
    ids = {p: raw[p] for p in PROVIDERS if raw.get(p)}
    images = bool(raw.get("images", False))
    return CatalogModel(
        key=raw["key"], name=raw["name"], family=raw["family"], version=str(raw["version"]),
        context_length=int(raw["context_length"]), params_b=float(raw["params_b"]),
        images=images, max_images=int(raw.get("max_images", 1 if images else 0)),
        moe=bool(raw.get("moe", False)), active_params_b=raw.get("active_params_b"), ids=ids,
    )


@functools.lru_cache(maxsize=1)
def models() -> tuple[CatalogModel, ...]:
    """Every catalog entry, in file order."""
    data = tomllib.loads(CATALOG_FILE.read_text(encoding="utf-8"))
    return tuple(_entry(raw) for raw in data.get("model", []))


def by_key(key: str) -> CatalogModel | None:
    """The entry with this key (`phi-3.5-mini`), or None."""
    return next((m for m in models() if m.key == key), None)


def _norm(model_id: str, provider: str = "") -> str:
    low = model_id.strip().lower()
    # `phi3.5` and `phi3.5:latest` are the same Ollama model
    if provider == "ollama" and low.endswith(":latest"):
        low = low[: -len(":latest")]
    return low


def find(provider: str, model_id: str) -> CatalogModel | None:
    """The entry a provider's model id belongs to, case-insensitively (GitHub mixes cases)."""
    want = _norm(model_id, provider)
    for m in models():
        mid = m.id_for(provider)
        if mid and _norm(mid, provider) == want:
            return m
    return None


def guess(model_id: str) -> CatalogModel | None:
    """Best-effort match of any id (a custom server's name, a file name) to a catalog entry."""
    low = _norm(model_id).replace("_", "-")
    for provider in PROVIDERS:
        hit = find(provider, model_id)
        if hit:
            return hit
    # longest name first so `phi-3.5-mini` is not taken for `phi-3-mini`
    for m in sorted(models(), key=lambda m: -len(m.name)):
        stem = m.name.lower().replace("-instruct", "")
        if stem in low:
            return m
    return None


def family_of(provider: str, model_id: str) -> str:
    """The display family of a provider's model id; unknown ids are their own family."""
    hit = find(provider, model_id) or guess(model_id)
    return hit.family if hit else model_id


def ids_for(provider: str) -> list[tuple[str, CatalogModel]]:
    """(id, entry) of every catalog model this provider serves."""
    return [(m.id_for(provider), m) for m in models() if m.id_for(provider)]


def families() -> list[str]:
    """Family names in catalog order, each once."""
    out: list[str] = []
    for m in models():
        if m.family not in out:
            out.append(m.family)
    return out
