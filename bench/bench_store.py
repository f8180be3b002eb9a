"""Store speed: writes, streaming updates, FTS5 vs LIKE search, export/import; prints a table (not a test)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


from services.conversations.import_export import export_json, import_json  # noqa: E402
from services.conversations.rows import NewMessage  # noqa: E402
from services.conversations.store import Store  # noqa: E402

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar".split()


def text(i: int) -> str:
    return " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(40)) + f" item{i}"


def timed(fn, n=1):
    t = time.perf_counter()
    for _ in range(n):
        out = fn()
    return (time.perf_counter() - t) / n, out


def main(n_conv: int = 200, per_conv: int = 50) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fts in (True, False):
            s = Store(Path(tmp) / f"bench-{fts}.db", fts=fts)
            t0 = time.perf_counter()
            for c in range(n_conv):
                cid = s.create_conversation()
                for m in range(per_conv):
                    s.add_message(cid, NewMessage("user" if m % 2 == 0 else "assistant", text(c * per_conv + m)))
            write_s = time.perf_counter() - t0
            n = n_conv * per_conv
            cid = s.create_conversation()
            mid = s.add_message(cid, NewMessage("assistant", ""))
            acc = ""
            t0 = time.perf_counter()
            for _ in range(500):
                acc += " tok"
                s.update_message(mid, content=acc)
            update_ms = (time.perf_counter() - t0) / 500 * 1000
            search_ms, hits = timed(lambda s=s: s.search("item4242"), 20)
            rows.append(("FTS5" if fts else "LIKE", n, n / write_s, update_ms, search_ms * 1000, len(hits)))
            if fts:
                big = next(c.id for c in s.list_conversations(3) if c.n_messages == per_conv)
                exp_s, data = timed(lambda s=s, big=big: export_json(s, big), 5)
                imp_s, _ = timed(lambda s=s, data=data: import_json(s, data), 5)
            s.close()
    print(f"{'search':6} {'messages':>9} {'inserts/s':>10} {'update ms':>10} {'search ms':>10} {'hits':>5}")
    for r in rows:
        print(f"{r[0]:6} {r[1]:9d} {r[2]:10.0f} {r[3]:10.2f} {r[4]:10.2f} {r[5]:5d}")
    print(f"search speed-up FTS5 vs LIKE: x{rows[1][4] / rows[0][4]:.1f}")
    print(f"export of a {per_conv}-message conversation: {exp_s * 1000:.1f} ms; import: {imp_s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
