"""The cloud and custom OpenAI-compatible providers: where each lives and which key it takes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from services import config, credentials
from services.credentials import Credential
from services.errors import BackendUnavailable

# connect fast (a wrong host should fail in seconds) and allow a minute between bytes
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0
# listing models should never hold up a page
DISCOVERY_TIMEOUT_S = 4.0


@dataclass(frozen=True)
class Provider:
    """One OpenAI-compatible provider: base URL, key setting, auth style, model discovery."""

    name: str
    title: str
    key_env: str
    # a fixed base URL, or None when the user gives it in base_env
    base_url: str | None = None
    base_env: str | None = None
    key_required: bool = True
    # "bearer" (Authorization) or "api-key" (Azure's header; the SDK adds bearer too)
    auth: str = "bearer"
    # "github-catalog", "models" (GET /models), or "" (no discovery)
    discovery: str = "models"
    catalog_url: str | None = None
    default_query: dict = field(default_factory=dict)
    # GenerationParams fields the provider's API has no field for
    ignored_params: frozenset[str] = frozenset({"top_k", "repetition_penalty"})
    # keep only model ids containing this (cloud catalogs list hundreds of models)
    id_filter: str = "phi"
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    read_timeout_s: float = READ_TIMEOUT_S
    max_retries: int = 2

    def settings(self) -> list[str]:
        """Setting names this provider reads, base URL first."""
        return [s for s in (self.base_env, self.key_env) if s] + (
            ["AZURE_AI_API_VERSION", "AZURE_AI_DEPLOYMENTS"] if self.name == "azure" else [])


PROVIDERS: dict[str, Provider] = {
    "github": Provider(
        "github", "GitHub Models", "GITHUB_TOKEN", base_url="https://models.github.ai/inference",
        discovery="github-catalog", catalog_url="https://models.github.ai/catalog/models",
    ),
    "azure": Provider(
        "azure", "Azure AI Foundry", "AZURE_AI_API_KEY", base_env="AZURE_AI_ENDPOINT",
        auth="api-key", discovery="",
    ),
    "nim": Provider(
        "nim", "NVIDIA NIM", "NVIDIA_API_KEY", base_url="https://integrate.api.nvidia.com/v1",
    ),
    "openai": Provider(
        "openai", "OpenAI-compatible server", "OPENAI_API_KEY", base_env="OPENAI_BASE_URL",
        key_required=False, id_filter="",
        # vLLM, llama.cpp server and LM Studio accept top_k and a repetition penalty
        ignored_params=frozenset(),
    ),
}

AZURE_API_VERSION = "2024-05-01-preview"


@dataclass(frozen=True)
class Connection:
    """Where to send requests for one provider, and the key bound to that address (never elsewhere)."""

    provider: Provider
    credential: Credential
    base_url: str
    query: dict = field(default_factory=dict)

    @property
    def key(self) -> str | None:
        """The key that goes with base_url, or None."""
        return self.credential.key

    @property
    def key_source(self) -> str:
        """Where the key came from (secrets.toml, environment, typed for this session, given)."""
        return self.credential.key_source

    def __repr__(self) -> str:
        return f"Connection({self.provider.name}, {self.credential!r})"


def azure_base(endpoint: str) -> tuple[str, dict]:
    """Azure endpoints come in two forms: the model-inference `/models` one and the `/openai/v1` one."""
    base = endpoint.rstrip("/")
    version = config.value("AZURE_AI_API_VERSION", AZURE_API_VERSION)
    if "/openai/v1" in base:
        return base, {}
    if not base.endswith("/models"):
        base += "/models"
    return base, {"api-version": version}


def credential(provider: Provider, *, base_url: str | None = None,
               api_key: str | None = None) -> Credential:
    """The provider's address and the key bound to it (see services/credentials.py for the rule)."""
    return credentials.resolve(provider.name, address_setting=provider.base_env,
                               key_setting=provider.key_env, fixed_address=provider.base_url,
                               given_address=base_url, given_key=api_key)


def connection(provider: Provider, *, base_url: str | None = None,
               api_key: str | None = None) -> Connection:
    """Resolve base URL and key for a provider; explain what to set when something is missing.

    `base_url`/`api_key` given here (tests, a self-hosted copy) replace the configured ones. The
    key comes with its address: an address typed for a browser session never gets the configured
    key, and one provider's key is looked up under its own setting only.
    """
    cred = credential(provider, base_url=base_url, api_key=api_key)
    base = cred.address
    if not base:
        raise BackendUnavailable(
            f"{provider.title} is not configured: {provider.base_env} is not set.",
            hint=f"To use it, {config.where_to_set(provider.base_env)}.",
        )
    if not base.startswith(("http://", "https://")):
        raise BackendUnavailable(
            f"{provider.base_env or provider.name} must start with http:// or https://.")
    if provider.key_required and not cred.key:
        if cred.origin == credentials.SESSION:
            raise BackendUnavailable(
                f"{provider.title} needs a key for the address typed for this session.",
                hint=f"Type {provider.key_env} on the Models page too: a configured key is only "
                     "ever sent to the configured address.")
        raise BackendUnavailable(
            f"{provider.title} needs a key: {provider.key_env} is not set.",
            hint=f"To use it, {config.where_to_set(provider.key_env)}.",
        )
    query = dict(provider.default_query)
    if provider.name == "azure":
        base, query = azure_base(base)
    return Connection(provider, cred, base.rstrip("/"), query)


@dataclass
class Health:
    """What the Models page shows about one provider: last success, last error in plain words."""

    reachable: bool | None = None
    last_error: str = ""
    checked_at: float = 0.0

    def record(self, ok: bool, error: str = "") -> None:
        """Note the outcome of the latest call to this provider."""
        self.reachable, self.last_error, self.checked_at = ok, error, time.time()
