"""Each provider's state for the Models page and `providers`: configured, key (masked), reachable."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from services import config, credentials
from services.backends import get_backend
from services.types import TargetInfo
from services.errors import PlaygroundError
from services.providers import PROVIDERS, credential

# every provider the Models page shows, in order; the local ones have no key
ORDER = ("github", "azure", "nim", "openai", "ollama", "llamacpp")
TITLES = {"ollama": "Ollama", "llamacpp": "llama.cpp (in process)"}


@dataclass
class Setting:
    """One setting a provider reads, shown by name, source and masked value only."""

    name: str
    is_set: bool
    source: str = ""
    masked: str = ""
    secret: bool = True
    # why a value that is set is not used (a configured key beside an address typed for this session)
    note: str = ""


@dataclass
class ProviderStatus:
    """What the Models page and `providers --json` show about one provider."""

    name: str
    title: str
    configured: bool
    needs: str = ""
    settings: list[Setting] = field(default_factory=list)
    base_url: str = ""
    reachable: bool | None = None
    last_error: str = ""
    targets: list[TargetInfo] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain dict for JSON (masked values only)."""
        return {**asdict(self), "targets": [t.to_dict() for t in self.targets]}


def _setting(name: str) -> Setting:
    r = config.resolve(name)
    secret = name.endswith(("KEY", "TOKEN"))
    shown = r.masked() if secret else config.mask_url(r.value)
    return Setting(name, r.is_set, r.source, shown, secret)


def _bound_settings(cred: credentials.Credential, address_setting: str | None,
                    key_setting: str) -> list[Setting]:
    """The address and key settings as the requests use them: the key shown is the one bound to
    the address shown, and a configured key beside a typed address says it is not sent there."""
    out = []
    if address_setting:
        out.append(Setting(address_setting, bool(cred.address) and cred.address_source != "default",
                           cred.address_source, cred.shown_address, secret=False))
    key = Setting(key_setting, bool(cred.key), cred.key_source, config.mask(cred.key))
    if not cred.key and cred.origin == credentials.SESSION and credentials.configured(key_setting).is_set:
        key.note = "the configured key is not sent to an address typed for this session"
    out.append(key)
    return out


def status(name: str, *, check: bool = False) -> ProviderStatus:
    """A provider's state; `check` talks to it now (test connection) instead of using the last result."""
    backend = get_backend(name)
    title = PROVIDERS[name].title if name in PROVIDERS else TITLES.get(name, name)
    out = ProviderStatus(name, title, configured=True)
    if name in PROVIDERS:
        p = PROVIDERS[name]
        out.settings = _bound_settings(credential(p), p.base_env, p.key_env) + [
            _setting(s) for s in p.settings() if s not in (p.base_env, p.key_env)]
        try:
            conn = backend.connection()
            out.base_url = config.mask_url(conn.base_url)
        except PlaygroundError as exc:
            out.configured, out.needs = False, exc.user_message()
    elif name == "ollama":
        cred = backend.credential()
        out.settings = _bound_settings(cred, "OLLAMA_HOST", "OLLAMA_API_KEY")
        out.base_url = cred.shown_address
    if check and out.configured:
        out.reachable, out.last_error = _check(name, backend)
    infos = backend.list_targets()
    out.targets = list(infos)
    health = backend.health()
    if health is not None and out.reachable is None:
        out.reachable, out.last_error = health.reachable, health.last_error
    if name == "llamacpp":
        out.reachable = any(i.available for i in infos)
        out.last_error = next((i.reason for i in infos if not i.available), "")
    return out


def _check(name: str, backend) -> tuple[bool, str]:
    """Talk to the provider now: list its models (no tokens spent)."""
    try:
        if name in PROVIDERS and PROVIDERS[name].discovery:
            backend.discover(fresh=True)
        elif name == "ollama":
            backend.installed(fresh=True)
        elif name == "azure":
            return True, "Configured; Azure is checked on the first chat (its deployments cannot be listed with a key)."
        return True, ""
    except PlaygroundError as exc:
        return False, exc.user_message()


def all_statuses(*, check: bool = False) -> list[ProviderStatus]:
    """Every provider's state, in page order."""
    return [status(n, check=check) for n in ORDER]


def pull(model: str, progress=None) -> None:
    """Pull an Ollama model (the Models page's Pull button and `providers --pull`)."""
    get_backend("ollama").pull(model, progress)
