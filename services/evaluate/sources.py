"""Where prompt files and rows come from: files, JSONL or CSV test data, bundled examples, a chat."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from services.errors import BadRequest
from services.evaluate.promptfile import MAX_FILE_BYTES, MAX_ROWS, PromptFile, check_rows, dumps, loads
from services.evaluate.targets import model_for_target
from services.json_input import json_lines
from services.structured.wire import openai_response_format

EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "prompts"
# how many characters of a CSV field we accept (csv's own default is 128 KB)
CSV_FIELD_LIMIT = 20_000


def _decode(data: bytes | str, source: str) -> str:
    if isinstance(data, str):
        return data
    if len(data) > MAX_FILE_BYTES:
        raise BadRequest(f"{source} is {len(data):,} bytes; at most {MAX_FILE_BYTES:,}.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest(f"{source} is not UTF-8 text.") from None


def rows_from_jsonl(data: bytes | str, source: str = "the test data") -> list[dict]:
    """One JSON object per line; blank lines skipped; every error names its line."""
    rows = []
    too_many = f"{source} has more than {MAX_ROWS:,} rows; at most {MAX_ROWS:,} run at once: split it."
    for n, row in json_lines(_decode(data, source), source, limit=MAX_ROWS, too_many=too_many):
        if not isinstance(row, dict):
            raise BadRequest(f"{source} line {n} is not a JSON object of values.")
        rows.append(row)
    if not rows:
        raise BadRequest(f"{source} has no rows.")
    return check_rows(rows, source)


def rows_from_csv(data: bytes | str, source: str = "the test data") -> list[dict]:
    """A header line of names, then one row per line; values are text."""
    text = _decode(data, source)
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    try:
        if not reader.fieldnames or any(not (f or "").strip() for f in reader.fieldnames):
            raise BadRequest(f"{source} needs a header line naming every column.")
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise BadRequest(f"{source} has more than {MAX_ROWS:,} rows; at most {MAX_ROWS:,} run at once: split it.")
            if None in row:
                raise BadRequest(f"{source} line {reader.line_num} has more values than the header has names.")
            rows.append({k.strip(): (v if v is not None else "") for k, v in row.items()})
    except csv.Error as exc:
        raise BadRequest(f"{source} line {reader.line_num} cannot be read as CSV ({exc}).") from None
    if not rows:
        raise BadRequest(f"{source} has no rows under its header.")
    return check_rows(rows, source)


def rows_from_file(name: str, data: bytes | str) -> list[dict]:
    """Rows from a .jsonl or .csv file, by its name."""
    low = name.lower()
    if low.endswith((".jsonl", ".ndjson", ".json")):
        return rows_from_jsonl(data, name)
    if low.endswith(".csv"):
        return rows_from_csv(data, name)
    raise BadRequest(f"{name}: test data must be a .jsonl or .csv file.")


def load_file(path: str | Path) -> PromptFile:
    """A prompt file from disk."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadRequest(f"{path.name} is {size:,} bytes; at most {MAX_FILE_BYTES:,}.")
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadRequest(f"No prompt file at {path}.") from None
    except OSError as exc:
        raise BadRequest(f"Cannot read {path}: {exc.strerror}.") from None
    return loads(data, path.name)


def examples() -> dict[str, Path]:
    """The bundled example files by name."""
    return {p.name: p for p in sorted(EXAMPLES.glob("*.prompt.yml"))}


def from_chat(messages: list[tuple[str, str]], *, system: str = "", params=None, target: str = "",
              name: str = "") -> str:
    """A `.prompt.yml` of a chat: its system prompt, messages and parameters (no test data yet)."""
    msgs = ([{"role": "system", "content": system}] if system.strip() else [])
    msgs += [{"role": role, "content": content} for role, content in messages]
    # the file's messages end with the question each model answers
    while msgs and msgs[-1]["role"] == "assistant":
        msgs.pop()
    if not msgs or msgs[-1]["role"] != "user":
        raise BadRequest("There is no question to save yet: the chat needs at least one message.")
    model_parameters, fmt, schema = {}, None, None
    if params is not None:
        model_parameters = {"maxTokens": params.max_tokens, "temperature": params.temperature, "topP": params.top_p}
        if params.response_format.is_json:
            fmt = params.response_format.kind
            if fmt == "json_schema":
                # GitHub's shape: a name and strict beside the schema, as JSON text; the name and strict the
                # chat's requests sent (a file sends strict only as written)
                sent = openai_response_format(params.response_format)["json_schema"]
                named = {"name": sent["name"], "strict": sent.get("strict", False), "schema": sent["schema"]}
                schema = json.dumps(named, ensure_ascii=False)
    pf = PromptFile(name=name or "Chat prompt", model=model_for_target(target) if target else "",
                    model_parameters=model_parameters, response_format=fmt, json_schema=schema, messages=msgs)
    return dumps(pf)
