"""`moe`: a reasoning question with self-consistency (and expert routing), or a problem-set run."""

from __future__ import annotations

import sys

from services.reasoning import routing
from services.chat import DEFAULT_TARGET, resolve_target
from services.cli.chat import ensure_embedded
from services.cli.common import add_generation_flags, params_from_args, print_json
from services.errors import BadRequest
from services.evaluate.problem_set import BUNDLED, load_problems, run_suite, save_suite
from services.reasoning.methods import PRESETS, self_consistency


def register(sub) -> None:
    p = sub.add_parser("moe", help="reasoning with self-consistency, expert routing, problem-set accuracy")
    p.add_argument("question", nargs="?", help="the question (omit with --suite)")
    p.add_argument("--target", action="append", default=None,
                   help=f"backend:model (default {DEFAULT_TARGET}); repeat with --suite to compare targets")
    p.add_argument("--preset", choices=sorted(PRESETS), default="math", help="kind of question")
    p.add_argument("--samples", type=int, default=1, help="self-consistency: ask K times and vote")
    p.add_argument("--direct", action="store_true", help="ask for the answer only, no step-by-step working")
    p.add_argument("--routing", action="store_true", help="record which experts each token went to (local MoE)")
    p.add_argument("--routing-vs", metavar="PROMPT", default=None,
                   help="with --routing: route a second prompt too and compare the two (per-layer distance)")
    p.add_argument("--suite", metavar="FILE", help=f"run a JSONL problem set ('bundled' = {BUNDLED.name})")
    p.add_argument("--limit", type=int, default=None, help="with --suite: only the first N problems")
    p.add_argument("--no-store", action="store_true", help="with --suite: do not save the run in the database")
    add_generation_flags(p, response_format=False)
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.set_defaults(func=run)


def run(args) -> int:
    targets = args.target or [DEFAULT_TARGET]
    if args.suite:
        return run_suite_cmd(args, targets)
    if not args.question or not args.question.strip():
        raise BadRequest("Give a question, or --suite FILE to run a problem set.")
    if len(targets) > 1:
        raise BadRequest("One question goes to one --target; use --suite to compare several targets.")
    if not 1 <= args.samples <= 20:
        raise BadRequest(f"samples must be between 1 and 20, not {args.samples}.")
    target = resolve_target(targets[0])
    # greedy for one answer; sampling is what makes k answers differ
    params = params_from_args(args, temperature=0.0 if args.samples <= 1 else 0.7)
    if args.routing_vs is not None and not args.routing:
        raise BadRequest("--routing-vs compares routing; add --routing.")
    if args.routing:
        routing.check_routable(target)  # a sentence naming why, before any generation
    ensure_embedded(target)

    def progress(i, sample):
        if not args.json:
            print(f"sample {i + 1}/{args.samples}: {sample.answer!r} ({sample.method})", file=sys.stderr)

    result = self_consistency(str(target), args.question, preset=args.preset, k=args.samples, params=params,
                              step_by_step=not args.direct, system=args.system or "", routing=args.routing,
                              on_sample=progress)
    vote = result.vote
    if args.json:
        out = result.to_dict()
        out.update(preset=args.preset, agreement=vote.agreement,
                   tied=list(vote.tied), votes=vote.counts, params=params.to_dict())
        if args.routing:
            out.update(routing.report(str(target), result.routing,
                                      _second(args, str(target), params) if args.routing_vs else None))
        print_json(out)
        return 0
    if args.samples == 1:
        print(result.samples[0].text)
    print(f"\nAnswer: {result.answer}")
    if args.samples > 1:
        tie = f" (tie between {', '.join(vote.tied)})" if vote.tied else ""
        print(f"agreement {vote.agreement:.0%} over {args.samples} samples{tie}; votes {vote.counts}")
    if args.routing:
        _print_routing(str(target), result.routing, _second(args, str(target), params) if args.routing_vs else None)
    return 0


def _second(args, target: str, params) -> list:
    """Routing of the --routing-vs prompt (greedy, same parameters otherwise)."""
    return routing.route_prompt(target, args.routing_vs, params, system=args.system or "").routing


def _print_routing(target: str, events: list, other: list | None) -> None:
    """Expert load, entropy and balance per layer, the note on random weights, and the comparison."""
    info = routing.model_info(target)
    if info.get("random_weights"):
        print(f"note: {routing.RANDOM_NOTE} ({info['random_weights']})")
    print(f"routing: {len(events)} token-layer records; {info.get('scoring', '')}")
    load = routing.expert_load(events)
    for s in routing.layer_stats(events):
        counts = load.get(s["layer"], {})
        print(f"  layer {s['layer']}: entropy {s['entropy_norm']:.2f} of max, load CV {s['load_cv']:.2f}; "
              + ", ".join(f"e{e}={n}" for e, n in counts.items()))
    if other:
        for d in routing.routing_difference(events, other):
            print(f"  layer {d['layer']}: distance to the second prompt {d['distance']:.3f}")


def run_suite_cmd(args, targets: list[str]) -> int:
    problems = load_problems(None if args.suite == "bundled" else args.suite)
    if args.limit is not None:
        if args.limit < 1:
            raise BadRequest("--limit must be 1 or more.")
        problems = problems[: args.limit]
    params = params_from_args(args, temperature=0.0)
    for t in targets:
        ensure_embedded(resolve_target(t))

    def progress(done, total, o):
        if not args.json:
            mark = "ok " if o.correct else "bad"
            print(f"[{done}/{total}] {mark} {o.target} {o.problem_id}: got {o.predicted!r}, "
                  f"want {o.expected!r}", file=sys.stderr)

    result = run_suite(problems, targets, params, step_by_step=not args.direct, on_outcome=progress)
    run_id = None if args.no_store else save_suite(result)
    if args.json:
        out = result.to_dict()
        out["run_id"] = run_id
        print_json(out)
        return 0
    print(f"{'target':50s} {'accuracy':>8s} {'correct':>8s} {'tokens':>8s} {'seconds':>8s}")
    for t, s in result.scores.items():
        print(f"{t:50s} {s.accuracy:8.1%} {s.correct:>4d}/{s.total:<3d} {s.completion_tokens:8d} {s.seconds:8.1f}")
    if run_id:
        print(f"saved as run {run_id}", file=sys.stderr)
    return 0
