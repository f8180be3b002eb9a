"""Sampling parameters; fields the chosen backend ignores are greyed out with a tooltip."""

from __future__ import annotations

import streamlit as st

from services.chat import DEFAULT_SYSTEM_PROMPT, MAX_PROMPT_CHARS
from services.errors import BadRequest
from services.types import LOCAL_REPETITION_PENALTY, GenerationParams
from ui.safe_markdown import plain, sanitize
from ui.widget_memory import remember

DEFAULTS = GenerationParams()
# each control's range; a resumed conversation's value outside it is left as the control has it
RANGES = {"temperature": (0.0, 2.0), "top_p": (0.01, 1.0), "top_k": (0, 1000),
          "max_tokens": (1, GenerationParams.MAX_TOKENS_CAP), "repetition_penalty": (0.5, 2.0)}


def params_panel(key: str, ignored: set[str] | frozenset[str] = frozenset(), *, container=None,
                 show_system: bool = True, local: bool = True) -> tuple[GenerationParams | None, str]:
    """Render the controls; return (validated params or None after showing the error, system prompt).

    `local`: the target runs on this machine, so the repetition penalty starts at the local runtimes'
    default (the value in force when nothing is set) rather than at none.
    """
    where = container or st.sidebar
    system = ""
    # back from another page: the values set here before, not the defaults
    for name in ("system", "temperature", "top_p", "top_k", "max_tokens", "repetition_penalty", "seed",
                 "stop_strings"):
        remember(f"{key}_{name}")
    with where.expander("Parameters", expanded=False):
        if show_system:
            # a new conversation shows the default system prompt in force; a resumed one sets its own first
            st.session_state.setdefault(f"{key}_system", DEFAULT_SYSTEM_PROMPT)
            system = st.text_area("System prompt", key=f"{key}_system", placeholder="none: the model's own default",
                                  max_chars=MAX_PROMPT_CHARS)

        def tip(name: str, text: str) -> str:
            return f"{text} (ignored by this backend)" if name in ignored else text

        temperature = st.slider("Temperature", *RANGES["temperature"], DEFAULTS.temperature, 0.05, key=f"{key}_temperature",
                                disabled="temperature" in ignored, help=plain(tip("temperature", "0 = greedy")))
        top_p = st.slider("Top p", *RANGES["top_p"], DEFAULTS.top_p, 0.01, key=f"{key}_top_p",
                          disabled="top_p" in ignored, help=plain(tip("top_p", "nucleus sampling mass")))
        top_k = st.number_input("Top k", *RANGES["top_k"], DEFAULTS.top_k, key=f"{key}_top_k",
                                disabled="top_k" in ignored, help=plain(tip("top_k", "0 = off")))
        max_tokens = st.number_input("Max tokens", *RANGES["max_tokens"], DEFAULTS.max_tokens,
                                     key=f"{key}_max_tokens", disabled="max_tokens" in ignored,
                                     help=plain(tip("max_tokens", "most new tokens in the answer")))
        repetition_penalty = st.slider("Repetition penalty", *RANGES["repetition_penalty"], DEFAULTS.penalty(local), 0.05,
                                       key=f"{key}_repetition_penalty", disabled="repetition_penalty" in ignored,
                                       help=plain(tip("repetition_penalty",
                                                      f"1.0 = none; local runtimes default to "
                                                      f"{LOCAL_REPETITION_PENALTY} so small models do not loop")))
        seed_text = st.text_input("Seed", key=f"{key}_seed", disabled="seed" in ignored,
                                  help=plain(tip("seed", "blank = random")))
        stop_text = st.text_input("Stop strings", key=f"{key}_stop_strings", disabled="stop" in ignored,
                                  help=plain(tip("stop", "comma-separated")))
    try:
        seed = int(seed_text) if seed_text.strip() else None
    except ValueError:
        where.error("seed must be a whole number.")
        return None, system
    stop = tuple(s.strip() for s in stop_text.split(",") if s.strip())
    try:
        params = GenerationParams(temperature=float(temperature), top_p=float(top_p), top_k=int(top_k),
                                  max_tokens=int(max_tokens), repetition_penalty=float(repetition_penalty),
                                  seed=seed, stop=stop)
    except BadRequest as exc:
        where.error(sanitize(exc.user_message()))
        return None, system
    return params, system
