"""Whether each target can answer under a run's response format: a sentence for each one that cannot."""

from __future__ import annotations

from collections.abc import Iterable

from services.backends import get_backend
from services.errors import PlaygroundError
from services.types import Capabilities, ResponseFormat, Target


def refusal(target: str, caps: Capabilities, fmt: ResponseFormat) -> str | None:
    """The sentence for a target that cannot constrain decoding to a JSON format; None when it can."""
    if not fmt.is_json or "response_format" not in caps.ignored_params:
        return None
    what = "a JSON schema" if fmt.kind == "json_schema" else "a JSON object"
    return (f"{target} cannot constrain its answers to {what} (responseFormat {fmt.kind}), so its cases are not "
            "sent; pick another target, or set responseFormat: text to ask it in plain text.")


def refusals(targets: Iterable[str], fmt: ResponseFormat) -> dict[str, str]:
    """target -> sentence, for each target whose backend reports it cannot honour the format."""
    out: dict[str, str] = {}
    if not fmt.is_json:
        return out
    for name in targets:
        t = Target.parse(name)
        try:
            caps = get_backend(t.backend).capabilities(t.model)
        except PlaygroundError:
            continue  # a target that cannot even say what it takes fails on its own, with its own sentence
        sentence = refusal(name, caps, fmt)
        if sentence:
            out[name] = sentence
    return out
