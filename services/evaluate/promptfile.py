"""GitHub's `.prompt.yml`, read as `gh models eval` reads it (see yaml_reader), checked once, with stated
bounds; what the reference would ignore or leave as written is kept and said in `notices`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from services.errors import BadRequest
from services.evaluate import yaml_reader as yr
from services.evaluate.checks import check_schema
from services.evaluate.evaluator_spec import EvaluatorSpec, parse_evaluator
from services.evaluate.file_notices import Notes
from services.evaluate.placeholder_notes import placeholder_notices
from services.structured.schema_input import MAX_SCHEMA_TEXT_BYTES
from services.types import ROLES, SCHEMA_NAME_MAX_CHARS, GenerationParams, ResponseFormat

# bounds: a file, its rows, its messages and evaluators; a bigger file gets a sentence, not a run
MAX_FILE_BYTES = 2_000_000
MAX_ROWS = 1000
MAX_MESSAGES = 50
MAX_EVALUATORS = 20
MAX_CELL_CHARS = 20_000
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
KNOWN = ("name", "description", "model", "modelParameters", "responseFormat", "jsonSchema", "messages",
         "testData", "evaluators")
# modelParameters keys, the GenerationParams field each maps to, and how each is read
PARAM_KEYS = {"maxTokens": "max_tokens", "temperature": "temperature", "topP": "top_p"}
_PARAM_READERS = {"maxTokens": yr.integer, "temperature": yr.number, "topP": yr.number}
# what a prompt file's modelParameters can set; the rest of GenerationParams is never sent for it
SAMPLING = frozenset(PARAM_KEYS.values())


@dataclass
class PromptFile:
    """One prompt file: prompt, parameters, test rows and evaluators, plus any keys we do not use."""

    name: str = ""
    description: str = ""
    model: str = ""
    # maxTokens, temperature and topP typed; any other key as the text written
    model_parameters: dict = field(default_factory=dict)
    response_format: str | None = None
    # the JSON text as the file held it (kept verbatim), and its parsed form
    json_schema: str | None = None
    messages: list[dict] = field(default_factory=list)
    test_data: list[dict] = field(default_factory=list)
    evaluators: list[EvaluatorSpec] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    # what reading the file noticed (ignored keys, near misses, settings read another way)
    read_notes: list[str] = field(default_factory=list)

    def _named_schema(self) -> tuple[dict | None, str, bool | None]:
        """The `schema` inside jsonSchema, its `name` and its `strict`, from one read of the JSON text."""
        parsed = json.loads(self.json_schema) if self.json_schema else None
        if not isinstance(parsed, dict):
            return None, "", None
        name, strict = parsed.get("name"), parsed.get("strict")
        return (parsed.get("schema", parsed), name if isinstance(name, str) else "",
                strict if isinstance(strict, bool) else None)

    @property
    def schema(self) -> dict | None:
        """The `schema` inside jsonSchema, for the JSON-schema evaluator."""
        return self._named_schema()[0]

    @property
    def request_format(self) -> ResponseFormat | None:
        """The ResponseFormat every case is asked under; None when the file sets no responseFormat."""
        if self.response_format is None:
            return None
        if self.response_format == "json_schema":
            schema, name, strict = self._named_schema()
            # strict as written: true, false, or (not written) not sent at all
            return ResponseFormat("json_schema", schema, name=name, strict=strict)
        return ResponseFormat(self.response_format)

    def params(self, base: GenerationParams | None = None) -> GenerationParams:
        """GenerationParams from modelParameters and responseFormat, over the given (or default) ones.

        Sampling fields the file does not set are marked unset: remote APIs get none of them (their own
        defaults apply, as with gh models eval); local runtimes use the values shown.
        """
        base = base or GenerationParams(unset=SAMPLING)
        values = base.to_dict()
        unset = set(base.unset)
        for key, target in PARAM_KEYS.items():
            if key in self.model_parameters:
                values[target] = self.model_parameters[key]
                unset.discard(target)
        values["unset"] = sorted(unset)
        fmt = self.request_format
        if fmt is not None:
            values["response_format"] = fmt
        return GenerationParams.from_dict(values)

    def rows(self) -> list[dict]:
        """The test rows; a file without testData runs no case, as gh models eval does."""
        return self.test_data

    @property
    def notices(self) -> list[str]:
        """Everything to tell before a run: what reading noticed, and placeholders left as written."""
        return self.read_notes + placeholder_notices(self)

    def to_dict(self) -> dict:
        """The file's map, in GitHub's field order, unknown keys last."""
        out: dict = {}
        for key, value in (("name", self.name), ("description", self.description), ("model", self.model)):
            if value:
                out[key] = value
        if self.model_parameters:
            out["modelParameters"] = dict(self.model_parameters)
        if self.response_format:
            out["responseFormat"] = self.response_format
        if self.json_schema:
            out["jsonSchema"] = self.json_schema
        out["messages"] = [dict(m) for m in self.messages]
        if self.test_data:
            out["testData"] = [dict(r) for r in self.test_data]
        if self.evaluators:
            out["evaluators"] = [e.to_yaml() for e in self.evaluators]
        out.update(self.extra)
        return out


def dumps(pf: PromptFile) -> str:
    """YAML text of a prompt file: what was written unquoted is written so again, other text that would
    read as another type is quoted."""
    return yr.dump(pf.to_dict())


def _params(raw, notes: Notes) -> dict:
    if yr.is_blank(raw):
        return {}
    if not isinstance(raw, dict):
        raise BadRequest("modelParameters must be a map (maxTokens, temperature, topP).")
    notes.keys(raw, PARAM_KEYS, "modelParameters")
    out = {}
    for key, value in raw.items():
        if key in PARAM_KEYS:
            if not yr.is_blank(value):
                out[key] = _PARAM_READERS[key](value, f"modelParameters.{key}")
        else:
            out[key] = value
    try:
        GenerationParams.from_dict({PARAM_KEYS[k]: v for k, v in out.items() if k in PARAM_KEYS})
    except BadRequest as exc:
        raise BadRequest(f"modelParameters: {exc.user_message()}") from None
    return out


def _schema_text(raw, fmt: str | None, notes: Notes) -> str | None:
    if yr.is_blank(raw):
        if fmt == "json_schema":
            raise BadRequest("responseFormat is json_schema, so the file needs a jsonSchema.")
        return None
    if isinstance(raw, dict):
        notes.add("jsonSchema is written as a YAML map; gh models eval needs it as a string holding JSON "
                  "(jsonSchema: |- followed by the JSON). It is read here and written back as JSON text.")
        text = json.dumps(yr.as_json_tree(raw), ensure_ascii=False, allow_nan=True)
    elif isinstance(raw, str):
        text = str(raw)
    else:
        raise BadRequest("jsonSchema must be a string holding JSON.")
    if len(text.encode("utf-8")) > MAX_SCHEMA_TEXT_BYTES:
        raise BadRequest(f"jsonSchema is larger than {MAX_SCHEMA_TEXT_BYTES // 1024} KiB; shorten it.")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"jsonSchema is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).") from None
    except RecursionError:
        raise BadRequest("jsonSchema nests too deeply to read; flatten it.") from None
    except ValueError:  # an integer longer than Python converts (4300 digits)
        raise BadRequest("jsonSchema holds a number too long to read; shorten it.") from None
    if not isinstance(parsed, dict):
        raise BadRequest("jsonSchema must be a JSON object with name and schema.")
    if "strict" in parsed and not isinstance(parsed["strict"], bool):
        raise BadRequest(f"jsonSchema's strict must be true or false, not {json.dumps(parsed['strict'])[:40]}.")
    if fmt == "json_schema":
        for key in ("name", "schema"):
            if key not in parsed:
                raise BadRequest(f"jsonSchema must contain a {key!r} field (responseFormat is json_schema).")
        if not isinstance(parsed["name"], str) or len(parsed["name"]) > SCHEMA_NAME_MAX_CHARS:
            raise BadRequest(f"jsonSchema's name must be text of at most {SCHEMA_NAME_MAX_CHARS} characters "
                             "(responseFormat is json_schema).")
        if not isinstance(parsed["schema"], dict):
            raise BadRequest("jsonSchema's schema must be a JSON object such as {\"type\": \"object\"} "
                             "(responseFormat is json_schema).")
    schema = parsed.get("schema", parsed)
    if isinstance(schema, dict):
        # the bounds a request's schema is held to (depth and size first: both are walked without recursion)
        try:
            ResponseFormat("json_schema", schema)
        except BadRequest as exc:
            message = exc.user_message()
            raise BadRequest(f"jsonSchema cannot be used: {message[:1].lower()}{message[1:]}") from None
    check_schema(schema, "jsonSchema")
    return text


def _messages(raw, notes: Notes) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("The prompt file needs messages: a list of {role, content}.")
    if len(raw) > MAX_MESSAGES:
        raise BadRequest(f"The prompt file has {len(raw)} messages; at most {MAX_MESSAGES}.")
    out = []
    for n, m in enumerate(raw, 1):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise BadRequest(f"messages item {n} must be a map with role and content.")
        notes.keys(m, ("role", "content"), f"messages[{n}]")
        role = yr.text(m["role"], f"messages item {n} role").strip().lower()
        if role not in ROLES:
            raise BadRequest(f"messages item {n} has role {str(m['role'])!r}; roles are {', '.join(ROLES)}.")
        out.append({**m, "role": role, "content": yr.text(m["content"], f"messages item {n} content")})
    if out[-1]["role"] != "user":
        raise BadRequest("The last message must be from the user: it is what each model answers.")
    return out


def check_rows(rows, where: str = "testData") -> list[dict]:
    """Rows as maps of text keys, within the bounds; every error names the row."""
    if not isinstance(rows, list):
        raise BadRequest(f"{where} must be a list of maps.")
    if len(rows) > MAX_ROWS:
        raise BadRequest(f"{where} has {len(rows):,} rows; at most {MAX_ROWS:,} run at once: split the file.")
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise BadRequest(f"{where} row {n} is not a map of values (it is {type(row).__name__}).")
        for key, value in row.items():
            if not isinstance(key, str):
                raise BadRequest(f"{where} row {n} has a key that is not text ({key!r}).")
            if len(json.dumps(value, default=str)) > MAX_CELL_CHARS:
                raise BadRequest(f"{where} row {n} value {key!r} is longer than {MAX_CELL_CHARS:,} characters.")
    return [dict(r) for r in rows]


def _evaluators(raw, notes: Notes) -> list[EvaluatorSpec]:
    if yr.is_blank(raw):
        return []
    if not isinstance(raw, list):
        raise BadRequest("evaluators must be a list.")
    if len(raw) > MAX_EVALUATORS:
        raise BadRequest(f"The prompt file has {len(raw)} evaluators; at most {MAX_EVALUATORS}.")
    out: list[EvaluatorSpec] = []
    for n, item in enumerate(raw, 1):
        spec = parse_evaluator(item, n, notes)
        names = {e.name for e in out}
        if spec.name in names:
            # the reference allows two evaluators of one name; results here are keyed by name
            new = next(f"{spec.name} ({k})" for k in range(2, MAX_EVALUATORS + 2) if f"{spec.name} ({k})" not in names)
            notes.add(f"Two evaluators are named {spec.name!r}; the second is called {new!r} in the results.")
            spec = replace(spec, name=new)
        out.append(spec)
    return out


def from_dict(data, source: str = "The prompt file") -> PromptFile:
    """A checked PromptFile from a parsed YAML map (yaml_reader.read's output, or plain Python values)."""
    if not isinstance(data, dict):
        raise BadRequest(f"{source} must be a YAML map with messages (and optionally testData and evaluators).")
    notes = Notes()
    notes.keys(data, KNOWN)
    raw_fmt = data.get("responseFormat")
    fmt = None if yr.is_blank(raw_fmt) else raw_fmt.strip() if isinstance(raw_fmt, str) else raw_fmt
    if fmt is not None and fmt not in RESPONSE_FORMATS:
        shown = repr(str(fmt)[:40]) if isinstance(fmt, str) else "a list or a map"
        raise BadRequest(f"responseFormat must be one of {', '.join(RESPONSE_FORMATS)}, not {shown}.")
    fmt = str(fmt) if fmt is not None else None
    # read in the file's field order, so notices list places in the order a person reads them
    model_parameters = _params(data.get("modelParameters"), notes)
    json_schema = _schema_text(data.get("jsonSchema"), fmt, notes)
    messages = _messages(data.get("messages"), notes)
    evaluators = _evaluators(data.get("evaluators"), notes)
    rows = data.get("testData")
    pf = PromptFile(
        name=yr.text(data.get("name"), "The prompt file's name"),
        description=yr.text(data.get("description"), "The prompt file's description"),
        model=yr.text(data.get("model"), "The prompt file's model").strip(),
        model_parameters=model_parameters, response_format=fmt, json_schema=json_schema, messages=messages,
        test_data=check_rows([] if yr.is_blank(rows) else rows), evaluators=evaluators,
        extra={k: v for k, v in data.items() if k not in KNOWN},
    )
    if any(e.kind == "jsonSchema" and "schema" not in e.config for e in evaluators) and pf.schema is None:
        raise BadRequest("A jsonSchema evaluator without its own schema needs the file's jsonSchema.")
    if not evaluators:
        notes.add("This file has no evaluators: every case that gets an answer passes, as with gh models eval.")
    pf.read_notes = notes.sentences()
    return pf


def loads(text: str | bytes, source: str = "The prompt file") -> PromptFile:
    """Parse YAML text into a checked PromptFile."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise BadRequest(f"{source} is {len(text):,} bytes; at most {MAX_FILE_BYTES:,}.")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequest(f"{source} is not UTF-8 text.") from None
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise BadRequest(f"{source} is larger than {MAX_FILE_BYTES:,} bytes.")
    data = yr.read(text, source)
    try:
        return from_dict(data, source)
    except RecursionError:  # values nested hundreds deep, under the YAML reader's own limit
        raise BadRequest(f"{source} nests too deeply to check; flatten it.") from None


def with_rows(pf: PromptFile, rows: list[dict]) -> PromptFile:
    """The same file with other test rows (from JSONL or CSV); its notices follow the new rows."""
    return replace(pf, test_data=check_rows(rows, "the test data"))
