"""Settings and keys: typed for this session, then .streamlit/secrets.toml, then the environment."""

from __future__ import annotations

import contextvars
import os
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from urllib.parse import unquote, urlsplit, urlunsplit

from services.redaction import redact as redact_forms

ROOT = Path(__file__).resolve().parents[1]

# keys typed on the Models page for one browser session; a ContextVar because Streamlit runs
# each session's script in its own thread, so one session never sees another's keys
_session: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "phi_playground_session_keys", default=MappingProxyType({})
)


@dataclass(frozen=True)
class Resolved:
    """One setting's value and where it came from (session, secrets.toml, environment)."""

    name: str
    value: str | None
    source: str = ""

    @property
    def is_set(self) -> bool:
        """True when some source gave a non-empty value."""
        return bool(self.value)

    def masked(self) -> str:
        """The value as it may be shown on screen: a few characters at each end at most."""
        return mask(self.value)

    def __repr__(self) -> str:
        # a Resolved may end up in a log or a traceback; never print the value itself
        return f"Resolved(name={self.name!r}, source={self.source!r}, value={self.masked()!r})"


def mask(value: str | None) -> str:
    """`ghp_…x1y2` for a long key; a short one shows its last four characters only (`…x1y2`)."""
    if not value:
        return ""
    if len(value) < 8:
        return "…"  # too short to show any part of it
    if len(value) < SHORT_KEY:
        return "…" + value[-4:]
    head = value[:4] if value[:4].isascii() else ""
    return f"{head}…{value[-4:]}"


# below this length a key's first characters are too large a share of it to show
SHORT_KEY = 16
# query parameters that are safe to show as they are; every other value in an address is masked
PLAIN_QUERY = frozenset({"api-version"})


def mask_url(url: str | None) -> str:
    """An address as it may be shown: user and password, and query values such as ?api-key=, masked."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = "…@" + netloc.rpartition("@")[2]
        query = "&".join(_mask_query_item(item) for item in parts.query.split("&")) if parts.query else ""
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "(an address that cannot be read)"


def _mask_query_item(item: str) -> str:
    name, eq, val = item.partition("=")
    return item if not eq or not val or name.lower() in PLAIN_QUERY else f"{name}=…"


def url_secrets(url: str | None) -> list[str]:
    """The parts of an address that are credentials (user, password, query values), for redact()."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    # `https://TOKEN@host` carries a token as the user name; with a password, the password is the secret
    found = [parts.password] if parts.password else [parts.username or ""]
    for name, _eq, val in (item.partition("=") for item in parts.query.split("&")):
        if name.lower() not in PLAIN_QUERY:
            found += [val, unquote(val)]
    return [f for f in found if f]


def secrets_files() -> list[Path]:
    """Where secrets.toml may live, lowest priority first (as Streamlit reads them)."""
    env = os.environ.get("PHI_PLAYGROUND_SECRETS")
    if env:
        return [Path(env).expanduser()]
    candidates = [Path.home() / ".streamlit" / "secrets.toml", ROOT / ".streamlit" / "secrets.toml",
                  Path.cwd() / ".streamlit" / "secrets.toml"]
    out: list[Path] = []
    for p in candidates:
        if p not in out:
            out.append(p)
    return out


class SecretsError(ValueError):
    """secrets.toml exists but cannot be read; the message names the file and line only."""


def read_secrets(paths: list[Path] | None = None) -> dict[str, str]:
    """Root-level string entries from every secrets.toml found; a missing file is fine."""
    merged: dict[str, str] = {}
    for path in paths if paths is not None else secrets_files():
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise SecretsError(f"{path} cannot be read ({exc.strerror}).") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            # tomllib's message gives the line and column, never the file's content
            raise SecretsError(f"{path} is not valid TOML: {exc}.") from None
        for key, value in data.items():
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                merged[key] = str(value)
    return merged


def secrets_problem() -> str:
    """A sentence about an unreadable secrets.toml, or "" when all is well."""
    try:
        read_secrets()
    except SecretsError as exc:
        return str(exc)
    return ""


def resolve(name: str, *, session: Mapping[str, str] | None = None,
            env: Mapping[str, str] | None = None,
            secrets: Mapping[str, str] | None = None) -> Resolved:
    """One setting: typed for this session, else secrets.toml, else the environment."""
    typed = session if session is not None else _session.get()
    if typed.get(name):
        return Resolved(name, typed[name].strip(), "typed for this session")
    if secrets is None:
        try:
            secrets = read_secrets()
        except SecretsError:
            secrets = {}
    if secrets.get(name):
        return Resolved(name, secrets[name].strip(), "secrets.toml")
    env = os.environ if env is None else env
    if env.get(name):
        return Resolved(name, env[name].strip(), "environment")
    return Resolved(name, None, "")


def value(name: str, default: str | None = None) -> str | None:
    """Just the value of a setting (or the default)."""
    return resolve(name).value or default


def session_keys() -> dict[str, str]:
    """A copy of the keys typed for the current session."""
    return dict(_session.get())


def use_session(overrides: Mapping[str, str] | None) -> None:
    """Install this session's typed keys for the current thread (the page calls it each run)."""
    _session.set({k: v for k, v in (overrides or {}).items() if v and v.strip()})


@contextmanager
def session(overrides: Mapping[str, str] | None) -> Iterator[None]:
    """Typed keys for a block of code (tests and the CLI use this form)."""
    token = _session.set({k: v for k, v in (overrides or {}).items() if v and v.strip()})
    try:
        yield
    finally:
        _session.reset(token)


def where_to_set(name: str) -> str:
    """The plain-words instruction for a missing setting."""
    return (f"set {name} in the environment or in .streamlit/secrets.toml, "
            "or type it on the Models page for this session")


def redact(text: str, secrets_: list[str | None]) -> str:
    """Remove every known secret from a text before it is shown or logged: as it is, URL-encoded,
    base64-encoded or split by whitespace (services/redaction.py)."""
    return redact_forms(text, [s for s in secrets_ if s], mask)
