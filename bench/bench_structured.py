"""Structured output: how often the embedded model's answer is valid JSON of the asked shape, asked in
words only versus constrained by the response format, on each local runtime.

    python -m bench.bench_structured [--quick] [--json FILE]

Each landmark question wants {"city": ..., "country": ...}. "asked" sends the schema in the prompt with
a free-text response format (what a person does without constrained decoding); "constrained" sends
the same prompt with response_format json_schema. Greedy once, then at temperature 0.8 with several
seeds. Columns: valid (jsonschema accepts the answer), right city, mean tokens out, answers cut off
by max_tokens. Quality only: the runtimes share this process, so no speed figure is compared here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from services.chat import chat_once
from services.structured.answers import check_answer
from services.types import GenerationParams, ResponseFormat

RUNTIMES = ("onnx", "llamacpp", "transformers")
MODEL = "smollm2-135m-instruct"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
          "required": ["city", "country"]}
# (landmark, its city): the answer's city must contain the expected word
QUESTIONS = [("the Eiffel Tower", "paris"), ("the Colosseum", "rome"), ("Big Ben", "london"),
             ("the Statue of Liberty", "new york"), ("the Brandenburg Gate", "berlin"),
             ("the Sydney Opera House", "sydney")]
PROMPT = ('Where is {landmark}? Answer only with JSON like {{"city": "...", "country": "..."}}.')
MAX_TOKENS = 64


def _city(text: str) -> str:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return ""
    return str(value.get("city", "")).lower() if isinstance(value, dict) else ""


def run_cell(target: str, constrained: bool, temperature: float, seeds: list[int | None]) -> dict:
    """Every question at one setting: counts of valid and right answers, tokens, cut-offs."""
    fmt = ResponseFormat("json_schema", SCHEMA)
    n = valid = right = cut = tokens = 0
    for seed in seeds:
        params = GenerationParams(temperature=temperature, max_tokens=MAX_TOKENS, seed=seed,
                                  response_format=fmt if constrained else ResponseFormat())
        for landmark, city in QUESTIONS:
            stream = chat_once(target, PROMPT.format(landmark=landmark), params=params)
            n += 1
            ok = check_answer(stream.text.strip(), fmt).valid
            valid += bool(ok)
            right += bool(ok) and city in _city(stream.text)
            cut += stream.finish_reason == "length"
            tokens += stream.metrics.completion_tokens or 0
    return {"target": target, "mode": "constrained" if constrained else "asked", "temperature": temperature,
            "answers": n, "valid": valid, "right_city": right, "cut_off": cut, "mean_tokens": round(tokens / n, 1)}


def run(quick: bool = False) -> list[dict]:
    seeds = [1] if quick else [1, 2, 3]
    rows = []
    for runtime in RUNTIMES:
        target = f"{runtime}:{MODEL}"
        for constrained in (False, True):
            rows.append(run_cell(target, constrained, 0.0, [None]))
            rows.append(run_cell(target, constrained, 0.8, seeds))
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: one row per runtime, mode and temperature, with the constrained/asked ratio of valid answers."""
    out = ["| target | mode | temperature | valid | right city | mean tokens | cut off | valid vs asked |",
           "|---|---|---|---|---|---|---|---|"]
    asked = {(r["target"], r["temperature"]): r["valid"] for r in rows if r["mode"] == "asked"}
    for r in rows:
        base = asked.get((r["target"], r["temperature"]))
        ratio = "–" if r["mode"] == "asked" else ("∞" if not base else f"{r['valid'] / base:.2f}x")
        out.append(f"| {r['target']} | {r['mode']} | {r['temperature']} | {r['valid']}/{r['answers']} | "
                   f"{r['right_city']}/{r['answers']} | {r['mean_tokens']} | {r['cut_off']} | {ratio} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_structured", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed at temperature 0.8 instead of three")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = ap.parse_args(argv)
    rows = run(args.quick)
    print(f"load average {os.getloadavg()[0]:.2f}; {len(QUESTIONS)} questions; max_tokens {MAX_TOKENS}")
    print(table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
