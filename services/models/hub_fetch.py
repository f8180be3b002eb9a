"""The child process that talks to the Hugging Face hub: plan or fetch one variant's files.

It runs as `python -m services.models.hub_fetch plan|fetch ARGS_JSON` and prints one JSON line. Running it
apart lets a download be cancelled at any moment (terminate the process), whatever transport
huggingface_hub picks, and makes the hub settings (HF_ENDPOINT, HF_HUB_OFFLINE, HF_TOKEN) fresh per pull.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def command(op: str, variant, dest: Path) -> list[str]:
    """The argv that plans or fetches this variant into dest (huggingface_hub's local_dir)."""
    args = {"repo": variant.repo, "revision": variant.revision, "patterns": variant.allow_patterns,
            # the hub client's own cache (refs) goes inside the partial folder, so nothing escapes it
            "dest": str(dest), "cache": str(dest / ".cache" / "hub"), "parent": os.getpid()}
    return [sys.executable, "-m", "services.models.hub_fetch", op, json.dumps(args)]


def environment() -> dict:
    """The caller's environment, with this repo importable and the hub's own bars off."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    return env


def parse(stdout: str, rc: int) -> dict:
    """The result line the child printed, or a generic failure."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return {"ok": False, "kind": "error", "detail": f"the download helper exited with code {rc}"}


def run(op: str, variant, dest: Path, timeout: float) -> dict:
    """Run the child to the end (used for plans, which fetch no file content)."""
    proc = subprocess.run(command(op, variant, dest), capture_output=True, text=True,
                          env=environment(), cwd=ROOT, timeout=timeout)
    return parse(proc.stdout, proc.returncode)


# ---- in the child ------------------------------------------------------------------------

def _classify(exc: BaseException) -> tuple[str, str]:
    import errno

    import httpx2
    from huggingface_hub import errors as hf

    seen, e = set(), exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, hf.OfflineModeIsEnabled):
            return "offline", str(e)
        if isinstance(e, (hf.GatedRepoError,)):
            return "auth", str(e).splitlines()[0]
        if isinstance(e, (hf.RepositoryNotFoundError, hf.RevisionNotFoundError, hf.RemoteEntryNotFoundError)):
            return "notfound", str(e).splitlines()[0]
        if isinstance(e, hf.HfHubHTTPError) and getattr(e.response, "status_code", 0) in (401, 403):
            return "auth", str(e).splitlines()[0]
        if isinstance(e, (httpx2.TransportError, hf.LocalEntryNotFoundError)):
            return "network", str(e).splitlines()[0] if str(e) else type(e).__name__
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return "space", str(e)
        e = e.__cause__ or e.__context__
    return "error", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def main(op: str, args: dict) -> dict:
    from huggingface_hub import snapshot_download

    kwargs = dict(repo_id=args["repo"], revision=args["revision"], allow_patterns=args["patterns"],
                  local_dir=args["dest"], cache_dir=args["cache"], endpoint=os.environ.get("HF_ENDPOINT"))
    try:
        if op == "plan":
            infos = snapshot_download(dry_run=True, **kwargs)
            return {"ok": True, "commit": infos[0].commit_hash if infos else "",
                    "files": [[i.filename, i.file_size, i.will_download] for i in infos]}
        snapshot_download(max_workers=4, **kwargs)
        return {"ok": True}
    except Exception as exc:
        kind, detail = _classify(exc)
        return {"ok": False, "kind": kind, "detail": detail}


def _exit_with(parent: int) -> None:
    """Stop when the app or CLI that started us is gone, so no download outlives it."""
    import threading
    import time

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    ARGS = json.loads(sys.argv[2])
    if ARGS.get("parent"):
        _exit_with(int(ARGS["parent"]))
    print(json.dumps(main(sys.argv[1], ARGS)), flush=True)
