"""Compare concurrency: two loopback OpenAI-compatible targets at once vs the slower one alone (prints a table).

Both targets are served by the OpenAI SSE stand-in from tests/standins (a real loopback HTTP
server) with a fixed delay per token, so the only thing measured is our compare layer: worker
threads, the event queue and the timing wrapper. Target: wall time of the pair <= 1.15 x the
slower target alone.

Without --quick it also runs the embedded model on ONNX and llama.cpp one after another and at
the same time, to show what sharing 2 cores does to each one's tokens/s.

    python -m bench.bench_compare [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time


TARGET_RATIO = 1.15


def _alone(target: str, prompt: str) -> float:
    from services.chat import chat_once
    from services.types import GenerationParams

    started = time.perf_counter()
    stream = chat_once(target, prompt, params=GenerationParams(temperature=0, max_tokens=512))
    assert stream.text, f"{target} gave no text"
    return time.perf_counter() - started


def _pair(targets: list[str], prompt: str) -> tuple[float, list[dict]]:
    from services.compare.run import CompareSpec, run_compare
    from services.types import GenerationParams

    run = run_compare(CompareSpec.build(prompt, targets, GenerationParams(temperature=0, max_tokens=512)))
    failed = [r.error for r in run.results if not r.ok]
    assert not failed, failed
    return run.wall_s, [r.metrics for r in run.results]


LOCAL_PAIR = ["onnx:smollm2-135m-instruct", "llamacpp:smollm2-135m-instruct"]


def local_fairness(max_tokens: int = 64) -> dict:
    """Two local runtimes one after another (the default) and at once: each one's tokens/s, and wall time."""
    from services.models import embedded
    from services.compare.run import CompareSpec, run_compare
    from services.types import GenerationParams

    embedded.provision()
    params = GenerationParams(temperature=0, max_tokens=max_tokens)
    prompt = "Write a short story about a robot who learns to paint."
    run_compare(CompareSpec.build("Hi", LOCAL_PAIR, GenerationParams(max_tokens=4)))  # load both models
    out = {}
    for label, together in (("one after another", False), ("at the same time", True)):
        run = run_compare(CompareSpec.build(prompt, LOCAL_PAIR, params, concurrent_local=together))
        failed = [r.error for r in run.results if not r.ok]
        assert not failed, failed
        out[label] = {"wall_s": run.wall_s, "tokens_per_s": [r.metrics["decode_tokens_per_s"] for r in run.results]}
    print(f"\nlocal fairness: {' vs '.join(LOCAL_PAIR)}, {max_tokens} tokens, greedy")
    print(f"{'mode':20s} {'wall s':>8s} " + " ".join(f"{t.split(':')[0] + ' tok/s':>16s}" for t in LOCAL_PAIR))
    for label, row in out.items():
        print(f"{label:20s} {row['wall_s']:8.2f} " + " ".join(f"{v:16.1f}" for v in row["tokens_per_s"]))
    return out


def run(quick: bool = False) -> dict:
    """Measure and print the table; return the numbers (used by `python -m bench`)."""
    from services import config
    from tests.standins.openai_sse import OpenAIStandIn, Reply

    tokens, delay, repeats = (40, 0.02, 4) if quick else (100, 0.03, 5)
    reply = Reply.text(" ".join(f"tok{i}" for i in range(tokens)))
    targets = ["openai:bench-a", "openai:bench-b"]
    prompt = "Count for me."
    alone_a, alone_b, pair = [], [], []
    speeds = []
    with OpenAIStandIn(models=("bench-a", "bench-b"), token_delay=delay, default=reply) as srv, \
            config.session({"OPENAI_BASE_URL": srv.url}):
        _pair(targets, prompt)  # warm-up: imports, HTTP client, first connection
        for _ in range(repeats):
            alone_a.append(_alone(targets[0], prompt))
            alone_b.append(_alone(targets[1], prompt))
            wall, metrics = _pair(targets, prompt)
            pair.append(wall)
            speeds.append([m["decode_tokens_per_s"] for m in metrics])
    slower_alone = max(statistics.median(alone_a), statistics.median(alone_b))
    together = statistics.median(pair)
    ratio = together / slower_alone
    # each repeat ran A alone, B alone, then both: its own ratio shows the spread under this load
    per_repeat = sorted(p / max(a, b) for a, b, p in zip(alone_a, alone_b, pair, strict=True))
    result = {
        "tokens": tokens, "token_delay_s": delay, "repeats": repeats,
        "alone_a_s": round(statistics.median(alone_a), 4), "alone_b_s": round(statistics.median(alone_b), 4),
        "pair_wall_s": round(together, 4), "ratio": round(ratio, 3),
        "ratio_min_max": [round(per_repeat[0], 3), round(per_repeat[-1], 3)], "target_ratio": TARGET_RATIO,
        "pair_tokens_per_s": [round(statistics.median(s), 1) for s in zip(*speeds, strict=True)],
        "ok": ratio <= TARGET_RATIO,
    }
    print(f"compare: 2 loopback OpenAI-compatible targets, {tokens} tokens at {delay * 1000:.0f} ms/token, "
          f"median of {repeats}")
    print(f"{'run':32s} {'wall s':>8s}")
    print(f"{'bench-a alone':32s} {result['alone_a_s']:8.3f}")
    print(f"{'bench-b alone':32s} {result['alone_b_s']:8.3f}")
    print(f"{'both at once (compare)':32s} {result['pair_wall_s']:8.3f}")
    print(f"ratio pair / slower alone: {ratio:.3f} (per repeat {per_repeat[0]:.3f}-{per_repeat[-1]:.3f}; "
          f"target <= {TARGET_RATIO}) -> {'OK' if result['ok'] else 'MISSED'}")
    print(f"decode tokens/s per column while paired: {result['pair_tokens_per_s']}")
    if not quick:
        # the reason local targets run one after another by default, measured
        result["local"] = local_fairness()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens and repeats")
    run(quick=parser.parse_args().quick)
