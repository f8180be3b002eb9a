"""The issue's hostile inputs, the unbounded way and the bounded way, each case in its own process.

    python -m bench.bench_same_machine [--quick] [--full]

Rows (time in s and the process's peak resident memory in MB):
- a JSON Schema `pattern` with nested repeats on model output: plain jsonschema (Python's `re`) against
  the evaluator's check (services/structured/bounded_schema.py); 25 a's by default, the issue's 29 with --full;
- a 2 MB prompt file of 660,000 empty test rows: the first read, then the same upload on a rerun
  (ui/upload_cache.py keeps the outcome by the file's digest);
- a 10,000-message conversation on the Chat page (AppTest, no browser): every message drawn against the
  latest page (ui/conversation_list.py PAGE_MESSAGES); the second run of each is timed;
- 20 copies of a 6240x6240 PNG on Compare: decoded on every rerun, against refused by count before decoding
  and, under the cap, decoded once per digest.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.gettempdir()) / "phi-bench-same-machine"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def case_pattern(bounded: bool, n: int) -> float:
    from jsonschema.validators import validator_for

    from services.evaluate.checks import schema_check

    schema, answer = {"type": "string", "pattern": "^(a+)+$"}, json.dumps("a" * n + "!")
    if bounded:
        # the pattern, and one that the regex package cannot decide fast either
        return _timed(lambda: (schema_check(schema, answer),
                               schema_check({"type": "string", "pattern": "^(a|a)*$"}, json.dumps("a" * 31 + "!"))))
    return _timed(lambda: list(validator_for(schema)(schema).iter_errors("a" * n + "!")))


def rows_file(rows: int) -> bytes:
    return ("messages:\n- role: user\n  content: hi\ntestData: [" + "{}," * (rows - 1) + "{}]\n").encode()


def case_prompt_file(rerun: bool, rows: int) -> float:
    from services.errors import PlaygroundError
    from services.evaluate.promptfile import loads
    from ui.upload_cache import parse_once

    data, state = rows_file(rows), {}

    def read():
        try:
            parse_once("prompt file", data, lambda raw: loads(raw, "rows.prompt.yml"), store=state)
        except PlaygroundError:
            pass  # refused: 660,000 rows is over the 1,000-row bound

    first = _timed(read)
    return _timed(read) if rerun else first


def case_conversation(window: int, messages: int) -> float:
    os.environ["PHI_PLAYGROUND_DB"] = str(WORK / f"conv-{window}.db")
    Path(os.environ["PHI_PLAYGROUND_DB"]).unlink(missing_ok=True)
    from streamlit.testing.v1 import AppTest

    from services.conversations.store import open_store

    store = open_store()
    rows = [{"id": i, "parent": i - 1 if i else None, "role": ("user", "assistant")[i % 2],
             "content": f"message {i} " + "word " * 20} for i in range(messages)]
    conv = store.insert_tree({"title": "long"}, rows, {}, messages - 1)
    at = AppTest.from_file(str(ROOT / "app_pages" / "chat.py"), default_timeout=900)
    at.session_state["chat_conversation"] = conv
    at.session_state["chat_message_windows"] = {conv: window}
    at.run()
    return _timed(at.run)


def big_png() -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", (6240, 6240), (200, 30, 30))
    for x in range(0, 6240, 97):
        image.putpixel((x, x), (0, 0, 0))
    buf = io.BytesIO()
    image.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def case_images(way: str, copies: int) -> float:
    from services.media.images import prepare_image
    from ui.upload_cache import parse_once

    data, state, cap = big_png(), {}, 16
    if way == "each rerun":
        return _timed(lambda: [prepare_image(f"{n}.png", data) for n in range(copies)])
    if way == "over the cap":
        return _timed(lambda: copies > cap)  # the page counts the files before reading any
    files = min(copies, cap)
    read = lambda: [parse_once("compare image", data, lambda raw: prepare_image("x.png", raw).part, store=state)
                    for _ in range(files)]
    first = _timed(read)
    return first if way == "cached, first" else _timed(read)


CASES = {
    "pattern": case_pattern, "prompt_file": case_prompt_file, "conversation": case_conversation,
    "images": case_images,
}


def child(spec: dict) -> None:
    seconds = CASES[spec["case"]](*spec["args"])
    print(json.dumps({"s": seconds, "peak_mb": _peak_mb()}))


def measure(case: str, *args) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.bench_same_machine", "--child",
                          json.dumps({"case": case, "args": list(args)})],
                         cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False, full: bool = False) -> list[tuple]:
    WORK.mkdir(parents=True, exist_ok=True)
    n = 29 if full else 22 if quick else 25
    n_rows = 66_000 if quick else 660_000
    messages = 1_000 if quick else 10_000
    copies = 4 if quick else 20
    rows = [
        (f"`^(a+)+$` on {n} a's and `!` (and `^(a|a)*$` on 31)", "plain jsonschema (`re`)",
         measure("pattern", False, n), "evaluator check (bounded)", measure("pattern", True, n)),
        (f"prompt file of {n_rows:,} empty rows ({len(rows_file(n_rows)) / 1e6:.1f} MB)", "first read",
         measure("prompt_file", False, n_rows), "the same upload on a rerun", measure("prompt_file", True, n_rows)),
        (f"Chat page, a {messages:,}-message conversation", "every message drawn",
         measure("conversation", messages, messages), "latest 40 drawn", measure("conversation", 40, messages)),
    ]
    each = measure("images", "each rerun", copies)
    rows += [
        (f"{copies} copies of a 6240x6240 PNG on Compare", "decoded on each rerun", each,
         "first read, 16 at most (one decode per digest)", measure("images", "cached, first", copies)),
        (f"{copies} copies of a 6240x6240 PNG on Compare", "decoded on each rerun", each,
         "a rerun after that", measure("images", "cached, rerun", copies)),
        ("20 copies of a 6240x6240 PNG on Compare", f"(as above: {copies} decoded)", each,
         "over the cap of 16: refused by count", measure("images", "over the cap", 20)),
    ]
    return rows


def main() -> None:
    if "--child" in sys.argv:
        child(json.loads(sys.argv[sys.argv.index("--child") + 1]))
        return
    rows = run("--quick" in sys.argv, "--full" in sys.argv)
    print(f"load average {os.getloadavg()[0]:.1f}; each cell is one run in its own process\n")
    print("| input | before | s | peak MB | after | s | peak MB | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for what, before_name, before, after_name, after in rows:
        ratio = before["s"] / max(after["s"], 1e-9)
        shown = f"{ratio:,.0f}x" if ratio < 10_000 else "over 10,000x"
        print(f"| {what} | {before_name} | {before['s']:.2f} | {before['peak_mb']:.0f} | {after_name} | "
              f"{after['s']:.4f} | {after['peak_mb']:.0f} | {shown} |")


if __name__ == "__main__":
    main()
