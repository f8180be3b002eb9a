"""GitHub's `.prompt.yml` read and written with PyYAML's safe loader, checked once, with stated bounds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import yaml

from services.errors import BadRequest
from services.evaluate.evaluator_spec import EvaluatorSpec, parse_evaluator
from services.evaluate.judges import BUILTIN_NEEDS
from services.evaluate.templating import missing
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
# modelParameters keys and the GenerationParams field each maps to
PARAM_KEYS = {"maxTokens": "max_tokens", "temperature": "temperature", "topP": "top_p"}


@dataclass
class PromptFile:
    """One prompt file: prompt, parameters, test rows and evaluators, plus any keys we do not use."""

    name: str = ""
    description: str = ""
    model: str = ""
    model_parameters: dict = field(default_factory=dict)
    response_format: str | None = None
    # the JSON text as the file held it (kept verbatim), and its parsed form
    json_schema: str | None = None
    messages: list[dict] = field(default_factory=list)
    test_data: list[dict] = field(default_factory=list)
    evaluators: list[EvaluatorSpec] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def _named_schema(self) -> tuple[dict | None, str]:
        """The `schema` inside jsonSchema and its `name`, from one read of the JSON text."""
        parsed = json.loads(self.json_schema) if self.json_schema else None
        if not isinstance(parsed, dict):
            return None, ""
        name = parsed.get("name")
        return parsed.get("schema", parsed), name if isinstance(name, str) else ""

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
            schema, name = self._named_schema()
            return ResponseFormat("json_schema", schema, name=name)
        return ResponseFormat(self.response_format)

    def params(self, base: GenerationParams | None = None) -> GenerationParams:
        """GenerationParams from modelParameters and responseFormat, over the given (or default) ones."""
        values = (base or GenerationParams()).to_dict()
        for key, target in PARAM_KEYS.items():
            if key in self.model_parameters:
                values[target] = self.model_parameters[key]
        fmt = self.request_format
        if fmt is not None:
            values["response_format"] = fmt
        return GenerationParams.from_dict(values)

    def rows(self) -> list[dict]:
        """The test rows; a file without testData runs once with no variables."""
        return self.test_data or [{}]

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
    """YAML text of a prompt file (safe_dump: plain data only, keys in the order above)."""
    return yaml.safe_dump(pf.to_dict(), sort_keys=False, allow_unicode=True, width=100)


def _text_field(data: dict, key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"The prompt file's {key} must be text.")
    return value


def _params(raw) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadRequest("modelParameters must be a map (maxTokens, temperature, topP).")
    known = {k: v for k, v in raw.items() if k in PARAM_KEYS}
    try:
        GenerationParams.from_dict({PARAM_KEYS[k]: v for k, v in known.items()})
    except BadRequest as exc:
        raise BadRequest(f"modelParameters: {exc.user_message()}") from None
    return dict(raw)


def _schema(raw, fmt: str | None) -> str | None:
    if raw is None:
        if fmt == "json_schema":
            raise BadRequest("responseFormat is json_schema, so the file needs a jsonSchema.")
        return None
    if isinstance(raw, dict):
        text = json.dumps(raw, ensure_ascii=False)  # a map is accepted and written back as JSON text
    elif isinstance(raw, str):
        text = raw
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
    from services.evaluate.checks import check_schema

    check_schema(schema, "jsonSchema")
    return text


def _messages(raw) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("The prompt file needs messages: a list of {role, content}.")
    if len(raw) > MAX_MESSAGES:
        raise BadRequest(f"The prompt file has {len(raw)} messages; at most {MAX_MESSAGES}.")
    out = []
    for n, m in enumerate(raw, 1):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise BadRequest(f"messages item {n} must be a map with role and content.")
        role = str(m["role"]).lower()
        if role not in ROLES:
            raise BadRequest(f"messages item {n} has role {m['role']!r}; roles are {', '.join(ROLES)}.")
        if not isinstance(m["content"], str):
            raise BadRequest(f"messages item {n} content must be text.")
        out.append({**m, "role": role})
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


def check_placeholders(pf: PromptFile, rows_name: str = "testData") -> None:
    """Every `{{name}}` in messages and evaluators has a value in every row (the answer is `completion`)."""
    for n, row in enumerate(pf.rows(), 1):
        keys = set(row)
        for i, m in enumerate(pf.messages, 1):
            gone = missing(m["content"], keys)
            if gone:
                raise BadRequest(f"messages item {i} uses {{{{{gone[0]}}}}}, which {rows_name} row {n} does not give.")
        for e in pf.evaluators:
            if e.kind == "llm":
                texts = [e.config["prompt"]]
                extra = {"completion", "_prompt"}
            elif e.kind == "uses":
                texts, extra = [], set()
                for need in BUILTIN_NEEDS.get(e.config.removeprefix("github/"), ()):
                    if need not in keys:
                        raise BadRequest(f"evaluator {e.name!r} ({e.config}) needs {need!r} in every {rows_name} row; "
                                         f"row {n} has none.")
            else:
                texts = [v for v in e.config.values() if isinstance(v, str)] if isinstance(e.config, dict) else []
                extra = set()
            for t in texts:
                gone = missing(t, keys | extra)
                if gone:
                    raise BadRequest(f"evaluator {e.name!r} uses {{{{{gone[0]}}}}}, which {rows_name} row {n} does not give.")


def from_dict(data, source: str = "The prompt file") -> PromptFile:
    """A checked PromptFile from a parsed YAML map."""
    if not isinstance(data, dict):
        raise BadRequest(f"{source} must be a YAML map with messages (and optionally testData and evaluators).")
    fmt = data.get("responseFormat")
    if fmt is not None and fmt not in RESPONSE_FORMATS:
        raise BadRequest(f"responseFormat must be one of {', '.join(RESPONSE_FORMATS)}, not {fmt!r}.")
    evaluators_raw = data.get("evaluators") or []
    if not isinstance(evaluators_raw, list):
        raise BadRequest("evaluators must be a list.")
    if len(evaluators_raw) > MAX_EVALUATORS:
        raise BadRequest(f"The prompt file has {len(evaluators_raw)} evaluators; at most {MAX_EVALUATORS}.")
    evaluators = [parse_evaluator(e, n) for n, e in enumerate(evaluators_raw, 1)]
    names = [e.name for e in evaluators]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise BadRequest(f"Two evaluators are named {dup!r}; names must differ.")
    pf = PromptFile(
        name=_text_field(data, "name"), description=_text_field(data, "description"),
        model=_text_field(data, "model"), model_parameters=_params(data.get("modelParameters")),
        response_format=fmt, json_schema=_schema(data.get("jsonSchema"), fmt),
        messages=_messages(data.get("messages")),
        test_data=check_rows(data.get("testData") or []), evaluators=evaluators,
        extra={k: v for k, v in data.items() if k not in KNOWN},
    )
    if any(e.kind == "jsonSchema" and "schema" not in e.config for e in evaluators) and pf.schema is None:
        raise BadRequest("A jsonSchema evaluator without its own schema needs the file's jsonSchema.")
    check_placeholders(pf)
    return pf


def loads(text: str | bytes, source: str = "The prompt file") -> PromptFile:
    """Parse YAML text (safe_load only) into a checked PromptFile."""
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise BadRequest(f"{source} is {len(text):,} bytes; at most {MAX_FILE_BYTES:,}.")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"{source} is not UTF-8 text.") from None
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise BadRequest(f"{source} is larger than {MAX_FILE_BYTES:,} bytes.")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "it cannot be parsed"
        raise BadRequest(f"{source} is not valid YAML{where}: {problem}.") from None
    except RecursionError:
        raise BadRequest(f"{source} nests too deeply to read; flatten it.") from None
    except ValueError:  # an integer longer than Python converts (4300 digits)
        raise BadRequest(f"{source} holds a number too long to read; shorten it.") from None
    try:
        return from_dict(data, source)
    except RecursionError:  # values nested hundreds deep, under the YAML reader's own limit
        raise BadRequest(f"{source} nests too deeply to check; flatten it.") from None


def with_rows(pf: PromptFile, rows: list[dict]) -> PromptFile:
    """The same file with other test rows (from JSONL or CSV), checked against its placeholders."""
    from dataclasses import replace

    out = replace(pf, test_data=check_rows(rows, "the test data"))
    check_placeholders(out, "the test data")
    return out
