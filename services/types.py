"""Data carriers shared by every backend, page and CLI command."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal, Union

from services.errors import BadRequest

Role = Literal["system", "user", "assistant"]
ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ImagePart:
    """One image (or video frame) attached to a message, as encoded bytes."""

    data: bytes
    mime: str = "image/png"
    label: str = ""
    timestamp_s: float | None = None


@dataclass(frozen=True)
class Message:
    """One chat turn: a role, its text and any images."""

    role: Role
    content: str
    images: tuple[ImagePart, ...] = ()

    def __post_init__(self):
        if self.role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}, not {self.role!r}.")
        if not isinstance(self.content, str):
            raise BadRequest("content must be text.")


# what Ollama, LM Studio and llama.cpp users get by default: small local models loop without it
LOCAL_REPETITION_PENALTY = 1.1

RESPONSE_KINDS = ("text", "json_object", "json_schema")
# bounds on a JSON schema: its JSON text, its nesting (objects and arrays) and its node count;
# grammar engines compile the schema per request, so a schema past these is refused up front
SCHEMA_MAX_BYTES = 64 * 1024
SCHEMA_MAX_DEPTH = 64
SCHEMA_MAX_NODES = 20_000
# a schema's name is a label (OpenAI takes 64 characters of [A-Za-z0-9_-]; the wire form is cut to that)
SCHEMA_NAME_MAX_CHARS = 200


def _schema_shape_error(schema: dict) -> str | None:
    """Why the schema is too deep or too big, walked without recursion; None when it fits."""
    stack, nodes = [(schema, 1)], 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > SCHEMA_MAX_DEPTH:
            return f"The JSON schema nests deeper than {SCHEMA_MAX_DEPTH} levels; flatten it."
        if nodes > SCHEMA_MAX_NODES:
            return f"The JSON schema has more than {SCHEMA_MAX_NODES} parts; shorten it."
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                return "The JSON schema's keys must all be text."
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, depth + 1) for v in value)
        elif not (value is None or isinstance(value, (str, bool, int, float))):
            return f"The JSON schema holds a {type(value).__name__}, which is not JSON."
    return None


@dataclass(frozen=True)
class ResponseFormat:
    """What shape an answer must take: free text, any JSON object, or JSON matching a schema."""

    # text, json_object or json_schema
    kind: str = "text"
    # the JSON Schema (a dict) when kind is json_schema, else None
    schema: dict | None = None
    # the schema's name sent to OpenAI-style servers (a prompt file's jsonSchema.name); empty: from its title
    name: str = ""
    # json_schema.strict sent to OpenAI-style servers: "auto" (true when the schema meets strict mode's
    # rules), true or false as a prompt file wrote it, or None (the file wrote none: none is sent)
    strict: bool | str | None = "auto"

    def __post_init__(self):
        if self.kind not in RESPONSE_KINDS:
            raise BadRequest(f"response_format must be one of {', '.join(RESPONSE_KINDS)}, not {self.kind!r}.")
        if not isinstance(self.name, str) or len(self.name) > SCHEMA_NAME_MAX_CHARS:
            raise BadRequest(f"A JSON schema's name must be text of at most {SCHEMA_NAME_MAX_CHARS} characters.")
        if self.strict not in ("auto", True, False, None):
            raise BadRequest(f"A JSON schema's strict must be true, false or auto, not {self.strict!r}.")
        if self.kind != "json_schema":
            if self.schema is not None or self.name or self.strict != "auto":
                raise BadRequest(f"A JSON schema needs response_format json_schema, not {self.kind}.")
            return
        if not isinstance(self.schema, dict):
            raise BadRequest("response_format json_schema needs a JSON schema, given as a JSON object.")
        problem = _schema_shape_error(self.schema)
        if problem:
            raise BadRequest(problem)
        import json

        try:  # a private copy: the caller's dict may change later, and this one is hashed
            text = json.dumps(self.schema, allow_nan=False)  # key order kept: grammars follow it
        except ValueError:
            raise BadRequest("The JSON schema holds NaN, Infinity or a number too long to write as JSON; "
                             "remove it.") from None
        if len(text.encode("utf-8")) > SCHEMA_MAX_BYTES:
            raise BadRequest(f"The JSON schema is larger than {SCHEMA_MAX_BYTES // 1024} KiB; shorten it.")
        from jsonschema import exceptions, validators  # deferred: only schema users pay for the import

        try:
            validators.validator_for(self.schema).check_schema(self.schema)
        except exceptions.SchemaError as err:
            where = "/".join(str(p) for p in err.absolute_path)
            raise BadRequest(
                f"The JSON schema is not a valid JSON Schema: {err.message[:200]}"
                + (f" (at {where})." if where else ".")
            ) from None
        object.__setattr__(self, "schema", json.loads(text))

    def __hash__(self) -> int:
        import json

        return hash((self.kind, json.dumps(self.schema, sort_keys=True), self.name, self.strict))

    @property
    def is_json(self) -> bool:
        """True when the answer must be JSON (an object or one matching the schema)."""
        return self.kind != "text"

    @classmethod
    def coerce(cls, value: Any) -> "ResponseFormat":
        """From a ResponseFormat, a kind name, or a dict {kind, schema}; None means text."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return cls(value.strip().lower())
        if isinstance(value, dict):
            unknown = sorted(set(value) - {"kind", "schema", "name", "strict"})
            if unknown:
                raise BadRequest(f"response_format takes kind, schema, name and strict, not {', '.join(map(str, unknown))}.")
            return cls(value.get("kind", "text"), value.get("schema"), value.get("name") or "",
                       value.get("strict", "auto"))
        raise BadRequest(f"response_format must be text, json_object or json_schema, not {value!r}."[:300])

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON and the database (name only when set, so older records read the same)."""
        out = {"kind": self.kind, "schema": self.schema}
        if self.name:
            out["name"] = self.name
        if self.strict != "auto":
            out["strict"] = self.strict
        return out


@dataclass(frozen=True)
class Limit:
    """The valid range of one numeric parameter and the step its control moves by: what the checks
    below and the parameter panel both read, so the two cannot disagree."""

    low: float
    high: float
    step: float
    # the low end itself is not allowed (top_p > 0); a control starts one step above it
    low_open: bool = False

    @property
    def lowest(self) -> float:
        """The smallest value a control offers."""
        return self.low + self.step if self.low_open else self.low

    def allows(self, value: float) -> bool:
        """Whether value lies in the range."""
        return (self.low < value if self.low_open else self.low <= value) and value <= self.high

    def rule(self) -> str:
        """The range in words, for an error message."""
        low, high = (str(v) if isinstance(v, int) else f"{v:g}" for v in (self.low, self.high))
        return f"> {low} and <= {high}" if self.low_open else f"between {low} and {high}"


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings, validated once; every backend maps them and reports what it ignores."""

    # 0 means greedy decoding
    temperature: float = 0.2
    # nucleus sampling mass, in (0, 1]
    top_p: float = 0.9
    # 0 turns top-k filtering off
    top_k: int = 0
    # the most new tokens to generate
    max_tokens: int = 512
    # 1.0 means no penalty; None means the runtime's default (LOCAL_REPETITION_PENALTY on local
    # runtimes, none on remote APIs)
    repetition_penalty: float | None = None
    # a fixed seed makes sampling repeatable where the backend supports it
    seed: int | None = None
    # generation ends before any of these strings
    stop: tuple[str, ...] = ()
    # free text, any JSON object, or JSON matching a schema (each backend constrains decoding its own way)
    response_format: ResponseFormat = field(default_factory=ResponseFormat)
    # sampling fields (temperature, top_p, max_tokens) the caller did not set, such as those a prompt file
    # leaves out: remote APIs are sent none of them (the server's default applies); local runtimes use the
    # values above
    unset: frozenset[str] = frozenset()

    MAX_TOKENS_CAP = 32768
    # the one table of ranges and steps: checked here, offered by the parameter panel (ui/params_panel.py)
    LIMITS = MappingProxyType({
        "temperature": Limit(0.0, 2.0, 0.05),
        "top_p": Limit(0.0, 1.0, 0.01, low_open=True),
        # beyond a thousand candidates top-k filters nothing a person would notice; 0 turns it off
        "top_k": Limit(0, 1000, 1),
        "max_tokens": Limit(1, MAX_TOKENS_CAP, 1),
        "repetition_penalty": Limit(0.0, 10.0, 0.05, low_open=True),
        "seed": Limit(0, 2**31 - 1, 1),
    })
    UNSETTABLE = frozenset({"temperature", "top_p", "max_tokens"})

    def __post_init__(self):
        def number(name, value, kind=float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadRequest(f"{name} must be a number, not {value!r}.")
            if isinstance(value, float) and not math.isfinite(value):
                raise BadRequest(f"{name} must be a finite number.")
            if kind is int and int(value) != value:
                raise BadRequest(f"{name} must be a whole number, not {value!r}.")

        for name in ("temperature", "top_p", "top_k", "max_tokens", "repetition_penalty", "seed"):
            value = getattr(self, name)
            if value is None and name in ("repetition_penalty", "seed"):
                continue  # the runtime's default; no seed
            limit = self.LIMITS[name]
            number(name, value, int if isinstance(limit.step, int) else float)
            if not limit.allows(value):
                raise BadRequest(f"{name} must be {limit.rule()}{' (0 turns it off)' if name == 'top_k' else ''}, "
                                 f"not {value}.")
        stop = self.stop
        if isinstance(stop, str):
            stop = (stop,)
        if not isinstance(stop, (tuple, list)) or not all(isinstance(s, str) and s for s in stop):
            raise BadRequest("stop must be a list of non-empty strings.")
        if len(stop) > 8:
            raise BadRequest(f"stop takes at most 8 strings, not {len(stop)}.")
        object.__setattr__(self, "stop", tuple(stop))
        object.__setattr__(self, "response_format", ResponseFormat.coerce(self.response_format))
        unset = frozenset(self.unset or ())
        if not unset <= self.UNSETTABLE:
            raise BadRequest(f"unset takes {', '.join(sorted(self.UNSETTABLE))}, not {', '.join(sorted(unset - self.UNSETTABLE))}.")
        object.__setattr__(self, "unset", unset)
        object.__setattr__(self, "top_k", int(self.top_k))
        object.__setattr__(self, "max_tokens", int(self.max_tokens))

    def penalty(self, local: bool = True) -> float:
        """The repetition penalty in force: the one set, else the runtime's default."""
        if self.repetition_penalty is not None:
            return float(self.repetition_penalty)
        return LOCAL_REPETITION_PENALTY if local else 1.0

    @property
    def greedy(self) -> bool:
        """True when decoding must pick the most likely token every step."""
        return self.temperature == 0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "GenerationParams":
        """Build from a plain dict, rejecting keys that are not parameters."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise BadRequest(
                f"Unknown parameter {', '.join(unknown)}; known: {', '.join(sorted(known))}."
            )
        if "stop" in data and data["stop"] is not None:
            data["stop"] = tuple(data["stop"]) if not isinstance(data["stop"], str) else (data["stop"],)
        elif "stop" in data:
            data["stop"] = ()
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON and the database."""
        d = asdict(self)
        d["stop"] = list(self.stop)
        d["response_format"] = self.response_format.to_dict()
        d.pop("unset")
        if self.unset:  # only when some are: the stored form of every other request stays as it was
            d["unset"] = sorted(self.unset)
        return d


@dataclass(frozen=True)
class Target:
    """A backend and a model: `backend:model`, the same string everywhere."""

    backend: str
    model: str

    @classmethod
    def parse(cls, text: str) -> "Target":
        """Split `backend:model`; the model part may itself contain colons (`ollama:phi3:mini`)."""
        if not isinstance(text, str) or ":" not in text:
            raise BadRequest(f"A target looks like backend:model, for example onnx:smollm2-135m-instruct; got {text!r}.")
        backend, model = text.split(":", 1)
        backend, model = backend.strip().lower(), model.strip()
        if not backend or not model:
            raise BadRequest(f"A target needs both a backend and a model; got {text!r}.")
        return cls(backend, model)

    def __str__(self) -> str:
        return f"{self.backend}:{self.model}"


@dataclass(frozen=True)
class Capabilities:
    """What a target accepts, checked before any model or network work."""

    text: bool = True
    images: bool = False
    max_images: int = 0
    moe_routing: bool = False
    context_length: int = 4096
    # GenerationParams fields this backend does not honour (the UI greys them out)
    ignored_params: frozenset[str] = frozenset()
    local: bool = True


@dataclass(frozen=True)
class TargetInfo:
    """A target as the picker and `targets` list it: available or not, and why."""

    target: str
    available: bool
    reason: str = ""
    label: str = ""
    family: str = ""
    capabilities: Capabilities = Capabilities()

    def to_dict(self) -> dict:
        """Plain dict for `targets --json`."""
        caps = self.capabilities
        return {
            "target": self.target, "available": self.available, "reason": self.reason, "label": self.label,
            "family": self.family,
            "capabilities": {"text": caps.text, "images": caps.images, "max_images": caps.max_images,
                             "moe_routing": caps.moe_routing, "context_length": caps.context_length,
                             "local": caps.local, "ignored_params": sorted(caps.ignored_params)},
        }


@dataclass(frozen=True)
class ChatRequest:
    """Everything one generation needs."""

    target: Target
    messages: tuple[Message, ...]
    params: GenerationParams = field(default_factory=GenerationParams)
    # ask a local MoE model to report which experts each token went to (Routing events)
    routing: bool = False


@dataclass(frozen=True)
class Token:
    """A piece of generated text."""

    text: str


@dataclass(frozen=True)
class Usage:
    """Token counts, as the runtime or server reports them."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Routing:
    """MoE expert choice for one token in one layer."""

    token: str
    layer: int
    experts: tuple[int, ...]
    weights: tuple[float, ...]
    position: int = 0
    # experts every token uses (one weight each: 1.0, or the family's gate value), and the layer's expert count
    shared: tuple[float, ...] = ()
    n_experts: int = 0


@dataclass(frozen=True)
class ServerMetrics:
    """Numbers a server reports about its own work (Ollama eval_*, OpenAI usage), kept beside ours."""

    values: dict


@dataclass(frozen=True)
class Done:
    """The stream ended; finish_reason is stop, length, or cancelled."""

    finish_reason: str


StreamEvent = Union[Token, Usage, Routing, ServerMetrics, Done]


@dataclass
class Metrics:
    """How one answer was produced, measured the same way for every backend."""

    ttft_s: float | None = None
    decode_tokens_per_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_s: float | None = None
    load_s: float = 0.0
    peak_rss_mb: float | None = None
    server: dict = field(default_factory=dict)
    # under a JSON response format: whether the answer validated (None: no JSON asked, or not checkable)
    schema_valid: bool | None = None
    # the first problem found, in words ("" when valid or not checked)
    schema_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output and storage."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Metrics":
        """Read back to_dict's output (the database, a JSON file); missing or null fields take their defaults."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in (data or {}).items() if k in known and v is not None}
        if "server" in values:
            values["server"] = dict(values["server"])
        return cls(**values)
