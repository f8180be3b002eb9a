"""Compare runs as JSON files: export everything needed to read or re-run one, and load it back."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Sequence

from services import media
from services.compare import ColumnResult, CompareRun, CompareSpec, start_compare
from services.elo import OUTCOMES
from services.errors import BadRequest, MediaError
from services.types import GenerationParams, ImagePart

FORMAT = "phi-playground/compare-run"
VERSION = 1
# a run file carries its images; beyond this it is not a run file a person meant to share
MAX_FILE_BYTES = 64 * 1024 * 1024


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
        raise BadRequest(f"This is not a usable compare run file: {message}")


def _media(entries) -> tuple[ImagePart, ...]:
    _need(isinstance(entries, list), '"media" must be a list.')
    parts = []
    for n, e in enumerate(entries, 1):
        _need(isinstance(e, dict), f"media item {n} must be an object.")
        try:
            data = base64.b64decode(e.get("data_base64") or "", validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise MediaError(f"Image {n} in the run file is not valid base64.") from None
        if not data:
            raise MediaError(f"Image {n} in the run file has no data; the file cannot re-send it.")
        if sha256(data) != e.get("sha256"):
            raise MediaError(f"Image {n} in the run file does not match its sha256: the file was changed or damaged.")
        # the content decides what it is, never the "mime" the file claims
        kind = media.sniff(data)
        if kind not in media.IMAGE_KINDS:
            raise MediaError(f"Image {n} in the run file is {media.kind_name(kind)}, not an image.")
        media.check_size(f"Image {n}", data, media.MAX_IMAGE_BYTES)
        part = ImagePart(data, f"image/{kind}", str(e.get("label") or "")[:200])
        media.decode_part(part)  # refuses bombs and damaged pixels before any backend sees them
        ts = e.get("timestamp_s")
        parts.append(ImagePart(part.data, part.mime, part.label, float(ts) if isinstance(ts, (int, float)) else None))
    return tuple(parts)


def loads(text: str | bytes) -> dict:
    """Parse and check a run file; raise BadRequest/MediaError with what is wrong."""
    if isinstance(text, (bytes, bytearray)):
        _need(len(text) <= MAX_FILE_BYTES, f"it is over {MAX_FILE_BYTES // (1024 * 1024)} MB.")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("This is not a usable compare run file: it is not UTF-8 text.") from None
    _need(len(text) <= MAX_FILE_BYTES, f"it is over {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    try:
        run = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"This is not a usable compare run file: not JSON (line {exc.lineno}: {exc.msg}).") from None
    _need(isinstance(run, dict) and run.get("format") == FORMAT, f'"format" must be "{FORMAT}".')
    _need(isinstance(run.get("version"), int) and run["version"] <= VERSION,
          f"version {run.get('version')!r} is newer than this app reads ({VERSION}).")
    _need(isinstance(run.get("prompt"), str), '"prompt" must be text.')
    _need(isinstance(run.get("targets"), list) and run["targets"], '"targets" must be a non-empty list.')
    for n, t in enumerate(run["targets"], 1):
        _need(isinstance(t, dict) and isinstance(t.get("target"), str), f"target {n} needs a \"target\" string.")
        _need(isinstance(t.get("params", {}), dict), f"target {n}'s \"params\" must be an object.")
    _need(isinstance(run.get("system", ""), str), '"system" must be text.')
    _need(isinstance(run.get("results", []), list), '"results" must be a list.')
    votes = run.get("votes", [])
    _need(isinstance(votes, list) and all(isinstance(v, dict) and v.get("outcome") in OUTCOMES for v in votes),
          f'"votes" must be a list of objects with an outcome in {", ".join(OUTCOMES)}.')
    run.setdefault("media", [])
    return run


def spec_from_run(run: dict) -> CompareSpec:
    """The comparison a run file describes, validated like a new one."""
    params = [GenerationParams.from_dict(t.get("params")) for t in run["targets"]]
    return CompareSpec.build(run["prompt"], [t["target"] for t in run["targets"]], params,
                             system=run.get("system", ""), images=_media(run.get("media", [])),
                             concurrent_local=bool(run.get("concurrent_local", False)))


def rerun(run: dict) -> CompareRun:
    """Start the same prompt, targets, params and media again."""
    return start_compare(spec_from_run(run))
