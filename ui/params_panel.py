"""Sampling parameters; fields the chosen backend ignores are greyed out with a tooltip."""

from __future__ import annotations

import json

import streamlit as st

from services.chat import DEFAULT_SYSTEM_PROMPT, MAX_PROMPT_CHARS
from services.errors import BadRequest
from services.structured.schema_input import MAX_SCHEMA_TEXT_BYTES, parse_schema_text, response_format_from
from services.types import LOCAL_REPETITION_PENALTY, GenerationParams, ResponseFormat
from ui.safe_markdown import plain, sanitize
from ui.widget_memory import remember

DEFAULTS = GenerationParams()
# the controls' ranges and steps are GenerationParams' own (one table for the panel and the checks)
CONTROLLED = ("temperature", "top_p", "top_k", "max_tokens", "repetition_penalty")
LIMITS = {name: GenerationParams.LIMITS[name] for name in CONTROLLED}
FORMAT_LABELS = {"text": "Text", "json_object": "JSON object", "json_schema": "JSON schema"}
SCHEMA_EXAMPLE = '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}'


def params_panel(key: str, ignored: set[str] | frozenset[str] = frozenset(), *, container=None,
                 show_system: bool = True, local: bool = True,
                 formats: bool = False) -> tuple[GenerationParams | None, str]:
    """Render the controls; return (validated params or None after showing the error, system prompt).

    `local`: the target runs on this machine, so the repetition penalty starts at the local runtimes'
    default (the value in force when nothing is set) rather than at none.
    `formats`: offer the response format (text, JSON object, JSON schema) on pages that show its badge.
    """
    where = container or st.sidebar
    system = ""
    # back from another page: the values set here before, not the defaults
    for name in ("system", "temperature", "top_p", "top_k", "max_tokens", "repetition_penalty", "seed",
                 "stop_strings", "schema"):
        remember(f"{key}_{name}")
    remember(f"{key}_response_format", lambda v: v in FORMAT_LABELS)
    with where.expander("Parameters", expanded=False):
        if show_system:
            # a new conversation shows the default system prompt in force; a resumed one sets its own first
            st.session_state.setdefault(f"{key}_system", DEFAULT_SYSTEM_PROMPT)
            system = st.text_area("System prompt", key=f"{key}_system", placeholder="none: the model's own default",
                                  max_chars=MAX_PROMPT_CHARS)

        def tip(name: str, text: str) -> str:
            return f"{text} (ignored by this backend)" if name in ignored else text

        temperature = st.slider("Temperature", value=DEFAULTS.temperature, key=f"{key}_temperature",
                                disabled="temperature" in ignored, help=plain(tip("temperature", "0 = greedy")),
                                **bounds("temperature"))
        top_p = st.slider("Top p", value=DEFAULTS.top_p, key=f"{key}_top_p", disabled="top_p" in ignored,
                          help=plain(tip("top_p", "nucleus sampling mass")), **bounds("top_p"))
        top_k = st.number_input("Top k", value=DEFAULTS.top_k, key=f"{key}_top_k", disabled="top_k" in ignored,
                                help=plain(tip("top_k", "0 = off")), **bounds("top_k"))
        max_tokens = st.number_input("Max tokens", value=DEFAULTS.max_tokens, key=f"{key}_max_tokens",
                                     disabled="max_tokens" in ignored,
                                     help=plain(tip("max_tokens", "most new tokens in the answer")),
                                     **bounds("max_tokens"))
        # a number box, not a slider: the whole valid range stays reachable and the useful values
        # (1.0 to 1.3) are not squeezed into a sliver of it
        repetition_penalty = st.number_input("Repetition penalty", value=DEFAULTS.penalty(local), format="%.2f",
                                             key=f"{key}_repetition_penalty",
                                             disabled="repetition_penalty" in ignored,
                                             help=plain(tip("repetition_penalty",
                                                            f"1.0 = none; local runtimes default to "
                                                            f"{LOCAL_REPETITION_PENALTY} so small models do not loop")),
                                             **bounds("repetition_penalty"))
        seed_text = st.text_input("Seed", key=f"{key}_seed", disabled="seed" in ignored,
                                  help=plain(tip("seed", "blank = random")))
        stop_text = st.text_input("Stop strings", key=f"{key}_stop_strings", disabled="stop" in ignored,
                                  help=plain(tip("stop", "comma-separated")))
        kind, schema_text = _format_controls(key, ignored) if formats else ("text", None)
    try:
        seed = int(seed_text) if seed_text.strip() else None
    except ValueError:
        where.error("seed must be a whole number.")
        return None, system
    stop = tuple(s.strip() for s in stop_text.split(",") if s.strip())
    try:
        # a backend that cannot constrain its answers gets free text: the greyed choice is not applied
        fmt = ResponseFormat() if "response_format" in ignored else response_format_from(kind, schema_text)
        params = GenerationParams(temperature=float(temperature), top_p=float(top_p), top_k=int(top_k),
                                  max_tokens=int(max_tokens), repetition_penalty=float(repetition_penalty),
                                  seed=seed, stop=stop, response_format=fmt)
    except BadRequest as exc:
        where.error(sanitize(exc.user_message()))
        return None, system
    return params, system


def bounds(name: str) -> dict:
    """A control's min, max and step, from GenerationParams.LIMITS."""
    limit = LIMITS[name]
    return {"min_value": limit.lowest, "max_value": limit.high, "step": limit.step}


def offers(name: str, value) -> bool:
    """Whether the panel's control can show this value (a resumed conversation's may lie outside)."""
    limit = LIMITS[name]
    return isinstance(value, (int, float)) and limit.lowest <= value <= limit.high


def _format_controls(key: str, ignored) -> tuple[str, str | None]:
    """The response format choice and, for a JSON schema, the schema box and its file loader."""
    state = st.session_state
    off = "response_format" in ignored
    kind = st.radio("Response format", list(FORMAT_LABELS), format_func=lambda k: plain(FORMAT_LABELS[k]),
                    key=f"{key}_response_format", horizontal=True, disabled=off,
                    help=plain("JSON object: any JSON object; JSON schema: JSON that matches your schema. "
                               "The runtime constrains decoding and every answer is checked"
                               + (" (ignored by this backend)" if off else "")))
    if kind != "json_schema":
        return kind, None
    # the box is drawn only for a schema: a first visit starts it empty, and remember() keeps what was typed
    text = st.text_area("Schema", key=f"{key}_schema", disabled=off, height=140, placeholder=SCHEMA_EXAMPLE,
                        help=plain("a JSON Schema the answer must match (checked before anything is sent)"
                                   + (" (ignored by this backend)" if off else "")))
    st.file_uploader("Or load a schema file (.json)", type=["json"], key=f"{key}_schema_file", disabled=off,
                     on_change=_load_schema_file, args=(key,), max_upload_size=1)  # MB; the reader holds it lower
    problem = state.pop(f"{key}_schema_file_problem", None)
    if problem:
        st.error(sanitize(problem))
    return kind, text or ""


def _load_schema_file(key: str) -> None:
    """Put an uploaded schema file's text into the box (a callback, so the box shows it on this run)."""
    state = st.session_state
    upload = state.get(f"{key}_schema_file")
    if upload is None:
        return
    raw = upload.getvalue()
    try:
        text = raw.decode("utf-8-sig") if len(raw) <= MAX_SCHEMA_TEXT_BYTES else None
    except UnicodeDecodeError:
        text = None
    if text is None:
        # too large or not UTF-8: the reader's own sentence; the box keeps what it held
        try:
            parse_schema_text(raw, what="The schema file")
        except BadRequest as exc:
            state[f"{key}_schema_file_problem"] = exc.user_message()
        return
    # checked like pasted text when the panel reads the box
    state[f"{key}_schema"] = text


def restore_format(fmt: ResponseFormat, key: str) -> None:
    """Put a stored response format (a resumed conversation's) back into the panel."""
    st.session_state[f"{key}_response_format"] = fmt.kind
    if fmt.schema is not None:
        st.session_state[f"{key}_schema"] = json.dumps(fmt.schema, indent=2, ensure_ascii=False)
