"""Compare runs as JSON files: export everything needed to read or re-run one, and load it back."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Sequence

from services import json_input

from services.media import images as media
from services.compare.run import MAX_TARGETS, ColumnResult, CompareRun, CompareSpec, start_compare
from services.compare.elo import OUTCOMES
from services.errors import BadRequest, MediaError
from services.json_input import METRICS, PARAMS, number, text
from services.types import GenerationParams, ImagePart

FORMAT = "phi-playground/compare-run"
VERSION = 1
WHAT = "compare run file"
# a run file carries its images; beyond this it is not a run file a person meant to share
MAX_FILE_BYTES = 64 * 1024 * 1024
# the prompt, each answer, and each stored vote list are bounded too (the page shows all of them)
MAX_PROMPT_CHARS = 200_000
MAX_ANSWER_CHARS = 500_000
MAX_MEDIA = 64
MAX_VOTES = 1_000

_TARGET = text(300)
# the run file format, declared: every field's type and bound
SCHEMA = {
    "type": "object",
    "required": ["format", "version", "prompt", "targets"],
    "additionalProperties": False,
    "properties": {
        "format": {"const": FORMAT},
        "version": number(minimum=1, maximum=VERSION, integer=True, nullable=False),
        "id": text(100, nullable=True),
        "created": text(40, nullable=True),
        "prompt": text(MAX_PROMPT_CHARS),
        "system": text(MAX_PROMPT_CHARS, nullable=True),
        "shared_params": {"type": ["boolean", "null"]},
        "concurrent_local": {"type": ["boolean", "null"]},
        "targets": {
            "type": "array", "minItems": 1, "maxItems": MAX_TARGETS,
            "items": {"type": "object", "required": ["target"], "additionalProperties": False,
                      "properties": {"target": _TARGET, "params": {**PARAMS, "type": ["object", "null"]}}},
        },
        "media": {
            "type": ["array", "null"], "maxItems": MAX_MEDIA,
            "items": {
                "type": "object", "required": ["sha256", "data_base64"], "additionalProperties": False,
                "properties": {
                    "label": text(500, nullable=True), "mime": text(100, nullable=True),
                    "timestamp_s": number(minimum=0), "sha256": text(64),
                    "bytes": number(minimum=0, integer=True),
                    "data_base64": text(media.MAX_IMAGE_BYTES * 4 // 3 + 4),
                },
            },
        },
        "results": {
            "type": ["array", "null"], "maxItems": MAX_TARGETS,
            "items": {
                "type": "object", "required": ["target"], "additionalProperties": False,
                "properties": {
                    "target": _TARGET, "params": {**PARAMS, "type": ["object", "null"]},
                    "status": {"enum": ["pending", "running", "done", "error"]},
                    "text": text(MAX_ANSWER_CHARS, nullable=True), "metrics": METRICS,
                    "finish_reason": text(40, nullable=True), "error": text(10_000, nullable=True),
                    "error_type": text(100, nullable=True), "mode": {"enum": ["sequential", "concurrent"]},
                    "local": {"type": "boolean"},
                    "notices": {"type": "array", "maxItems": 16, "items": text(2_000)},
                },
            },
        },
        "wall_s": number(minimum=0),
        "votes": {
            "type": ["array", "null"], "maxItems": MAX_VOTES,
            "items": {"type": "object", "required": ["outcome"], "additionalProperties": False,
                      "properties": {"target_a": _TARGET, "target_b": _TARGET, "outcome": {"enum": list(OUTCOMES)},
                                     "created": text(40, nullable=True), "run_id": text(100, nullable=True)}},
        },
    },
}


def sha256(data: bytes) -> str:
    """Hex digest used to name media in run files."""
    return hashlib.sha256(data).hexdigest()


def media_entry(part: ImagePart) -> dict:
    """One image or frame: its hash, type and bytes (base64), so a re-run sends the same pixels."""
    return {
        "label": part.label, "mime": part.mime, "timestamp_s": part.timestamp_s,
        "sha256": sha256(part.data), "bytes": len(part.data),
        "data_base64": base64.b64encode(part.data).decode("ascii"),
    }


def build_run(spec: CompareSpec, results: Sequence[ColumnResult] = (), *, wall_s: float | None = None,
              votes: Sequence[dict] = (), run_id: str | None = None) -> dict:
    """The run file's content: prompt, params, targets, media, outputs, metrics and votes."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "id": run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "prompt": spec.prompt,
        "system": spec.system,
        "shared_params": spec.shared_params,
        "concurrent_local": spec.concurrent_local,
        "targets": [{"target": t, "params": p.to_dict()} for t, p in zip(spec.targets, spec.params, strict=True)],
        "media": [media_entry(p) for p in spec.images],
        "results": [r.to_dict() for r in results],
        "wall_s": wall_s,
        "votes": [dict(v) for v in votes],
    }


def run_from(compare: CompareRun, *, votes: Sequence[dict] = (), run_id: str | None = None) -> dict:
    """The run file for a finished comparison."""
    return build_run(compare.spec, compare.results, wall_s=compare.wall_s, votes=votes, run_id=run_id)


def dumps(run: dict) -> str:
    """The file's text (UTF-8 JSON, indented so a person can read and diff it)."""
    return json.dumps(run, ensure_ascii=False, indent=2)


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise BadRequest(f"This is not a usable {WHAT}: {message}")


def _media(entries) -> tuple[ImagePart, ...]:
    parts = []
    for n, e in enumerate(entries):
        at = f"media[{n}] in the run file"
        try:
            data = base64.b64decode(e["data_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise MediaError(f"{at} is not valid base64.") from None
        if not data:
            raise MediaError(f"{at} has no data; the file cannot re-send it.")
        if sha256(data) != e["sha256"]:
            raise MediaError(f"{at} does not match its sha256: the file was changed or damaged.")
        # the content decides what it is, never the "mime" the file claims
        kind = media.sniff(data)
        if kind not in media.IMAGE_KINDS:
            raise MediaError(f"{at} is {media.kind_name(kind)}, not an image.")
        media.check_size(at, data, media.MAX_IMAGE_BYTES)
        part = ImagePart(data, f"image/{kind}", str(e.get("label") or "")[:200])
        try:
            media.decode_part(part)  # refuses bombs and damaged pixels before any backend sees them
        except MediaError as exc:
            raise MediaError(f"{at}: {exc.message}") from None
        ts = e.get("timestamp_s")
        parts.append(ImagePart(part.data, part.mime, part.label, float(ts) if ts is not None else None))
    return tuple(parts)


def loads(text: str | bytes) -> dict:
    """Parse and check a run file against SCHEMA; raise BadRequest naming the place that is wrong."""
    run = json_input.parse(text, max_bytes=MAX_FILE_BYTES, what=WHAT)
    _need(isinstance(run, dict) and run.get("format") == FORMAT, f'"format" must be "{FORMAT}".')
    version = run.get("version")
    _need(not isinstance(version, int) or isinstance(version, bool) or version <= VERSION,
          f"version {version} is newer than this app reads ({VERSION}).")
    json_input.check(run, SCHEMA, WHAT)
    for key, default in (("system", ""), ("media", []), ("results", []), ("votes", [])):
        if run.get(key) is None:
            run[key] = default
    # a result is shown as it is: give every one the fields the page reads, with their types
    run["results"] = [{**ColumnResult(n, r["target"], GenerationParams()).to_dict(), **r,
                       "metrics": r.get("metrics") or {}, "text": r.get("text") or ""}
                      for n, r in enumerate(run["results"])]
    return run


def spec_from_run(run: dict) -> CompareSpec:
    """The comparison a run file describes, validated like a new one."""
    params = []
    for n, t in enumerate(run["targets"]):
        try:
            params.append(GenerationParams.from_dict(t.get("params")))
        except BadRequest as exc:
            raise BadRequest(f"This is not a usable {WHAT}: targets[{n}].params: {exc.message}") from None
    return CompareSpec.build(run["prompt"], [t["target"] for t in run["targets"]], params,
                             system=run.get("system", ""), images=_media(run.get("media", [])),
                             concurrent_local=bool(run.get("concurrent_local", False)))


def rerun(run: dict) -> CompareRun:
    """Start the same prompt, targets, params and media again."""
    return start_compare(spec_from_run(run))
