"""A key bound to its address: one record per provider, resolved once, that HTTP clients obey.

The rule: an address typed in a browser session goes only with a key typed in that same session (or
none); a configured key (secrets.toml or the environment) goes only to the configured address. A
Credential that breaks the rule cannot be built, and the HTTP clients made from one never send its
key to another origin, redirects included (they are not followed at all).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from services import config

# where an address or a key came from
CONFIGURED = "configured"  # secrets.toml, the environment, or built into the provider
SESSION = "session"  # typed on the Models page for this browser session
GIVEN = "given"  # passed in code (tests, a copy of the app that builds its own backends)
# headers that carry a key; none may go to an origin other than the credential's own
KEY_HEADERS = ("authorization", "api-key", "x-api-key")
DEFAULT_PORTS = {"http": 80, "https": 443}


class KeyBindingError(ValueError):
    """A record that would send a configured key to an address that was not configured."""


@dataclass(frozen=True)
class Credential:
    """Provider, address, key, and where the address and the key each came from."""

    provider: str
    address: str
    key: str | None = field(default=None, repr=False)
    origin: str = CONFIGURED
    key_origin: str = ""
    address_source: str = ""
    key_source: str = ""

    def __post_init__(self) -> None:
        if self.key and self.key_origin == CONFIGURED and self.origin == SESSION:
            raise KeyBindingError(
                f"A configured key for {self.provider} cannot go to an address typed in a session.")
        if self.key and self.key_origin == SESSION and self.origin == GIVEN:
            raise KeyBindingError(f"A key typed in a session for {self.provider} goes only to its own address.")

    def __repr__(self) -> str:
        # a Credential may end up in a log or a traceback: masked key, masked address
        return (f"Credential({self.provider}, {self.shown_address!r}, origin={self.origin}, "
                f"key={config.mask(self.key)!r}, key_origin={self.key_origin!r})")

    @property
    def shown_address(self) -> str:
        """The address as it may be shown (a user, password or ?api-key= in it masked)."""
        return config.mask_url(self.address)

    @property
    def digest(self) -> str:
        """A one-way name for this provider + address + key, for caches that must not mix them."""
        raw = "\0".join((self.provider, self.address, self.key or ""))
        return hashlib.sha256(raw.encode()).hexdigest()

    def secrets(self) -> list[str]:
        """Every secret this record holds (the key and any in the address), for config.redact()."""
        return [s for s in [self.key, *config.url_secrets(self.address)] if s]

    def redact(self, text: str) -> str:
        """A text (an error, a server's reply) with this record's secrets masked."""
        return config.redact(str(text or ""), self.secrets())

    def same_origin(self, scheme: str, host: str, port: int | None) -> bool:
        """True when scheme, host and port are this address's own."""
        return origin_of(self.address) == (scheme.lower(), (host or "").lower(),
                                           port or DEFAULT_PORTS.get(scheme.lower()))


def origin_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an address, the port filled in for http and https."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return "", "", None


def configured(name: str | None, secrets: Mapping[str, str] | None = None,
               env: Mapping[str, str] | None = None) -> config.Resolved:
    """A setting from secrets.toml or the environment only (what the owner configured)."""
    if not name:
        return config.Resolved("", None, "")
    return config.resolve(name, session={}, secrets=secrets, env=env)


def resolve(provider: str, *, address_setting: str | None, key_setting: str | None,
            fixed_address: str | None = None, default_address: str | None = None,
            given_address: str | None = None, given_key: str | None = None,
            typed: Mapping[str, str] | None = None, secrets: Mapping[str, str] | None = None,
            env: Mapping[str, str] | None = None) -> Credential:
    """The one address and the one key a provider's requests use now; the address may be "".

    - an address given in code takes the key given with it, else the configured one;
    - an address typed for this session takes only a key typed for this session (or none);
    - otherwise the configured (or built-in) address, with a key typed for this session if there
      is one, else the configured key.
    """
    typed = config.session_keys() if typed is None else typed
    typed_key = (typed.get(key_setting) or "").strip() if key_setting else ""
    if given_address:
        if given_key is not None:
            return Credential(provider, given_address, given_key or None, GIVEN,
                              GIVEN if given_key else "", "given", "given" if given_key else "")
        conf = configured(key_setting, secrets, env)
        return Credential(provider, given_address, conf.value, GIVEN,
                          CONFIGURED if conf.value else "", "given", conf.source)
    typed_address = (typed.get(address_setting) or "").strip() if address_setting else ""
    if typed_address:
        return Credential(provider, typed_address, typed_key or None, SESSION,
                          SESSION if typed_key else "", "typed for this session",
                          "typed for this session" if typed_key else "")
    if fixed_address:
        address, address_source = fixed_address, "built in"
    else:
        conf_address = configured(address_setting, secrets, env)
        address, address_source = conf_address.value or "", conf_address.source
        if not address and default_address:
            address, address_source = default_address, "default"
    if given_key is not None:
        return Credential(provider, address, given_key or None, CONFIGURED,
                          GIVEN if given_key else "", address_source, "given" if given_key else "")
    if typed_key:
        return Credential(provider, address, typed_key, CONFIGURED, SESSION, address_source,
                          "typed for this session")
    conf = configured(key_setting, secrets, env)
    return Credential(provider, address, conf.value, CONFIGURED, CONFIGURED if conf.value else "",
                      address_source, conf.source)


def _strip_foreign_keys(cred: Credential):
    """A request hook: a request to any other origin leaves without the key headers."""

    def hook(request) -> None:
        url = request.url
        if not cred.same_origin(url.scheme, url.host, url.port):
            for name in KEY_HEADERS:
                request.headers.pop(name, None)

    return hook


def _bearer_auth(cred: Credential):
    """An httpx auth callable: this record's key as a bearer token, and nothing from elsewhere.

    It replaces whatever the client library put there (the ollama client adds $OLLAMA_API_KEY to
    every client it makes, whatever the host); a user and password in the address still work.
    """
    try:
        parts = urlsplit(cred.address)
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
    except ValueError:
        user = password = ""

    def auth(request):
        request.headers.pop("authorization", None)
        if cred.key:
            request.headers["Authorization"] = f"Bearer {cred.key}"
        elif user or password:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.headers["Authorization"] = f"Basic {token}"
        return request

    return auth


def http_options(cred: Credential, *, bearer: bool = False) -> dict:
    """Keyword arguments for an httpx (or httpx2) client that keeps this record's key at home.

    `bearer` makes the record the only source of the Authorization header (for clients that do
    not take the key themselves, like ollama's).
    """
    # redirects are not followed: a 307 to another origin would otherwise carry Azure's api-key
    # header (httpx drops only Authorization) and the prompt with it
    options = {"follow_redirects": False,
               "event_hooks": {"request": [_strip_foreign_keys(cred)], "response": []}}
    if bearer:
        options["auth"] = _bearer_auth(cred)
    return options
