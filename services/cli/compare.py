"""`compare`: one prompt on 2 to 4 targets, or `--rerun FILE` to repeat a saved run."""

from __future__ import annotations

import sys
from pathlib import Path

from services.cli.chat import ensure_embedded
from services.cli.common import add_generation_flags, params_from_args, print_json, schema_line
from services.compare import runfile
from services.compare.elo import leaderboard as board
from services.compare.run import MAX_TARGETS, CompareSpec, run_compare, speed_summary
from services.conversations.store import open_store
from services.errors import BadRequest, PlaygroundError
from services.media import images as media, video
from services.types import Target


def register(sub) -> None:
    p = sub.add_parser("compare", help="the same prompt on 2 to 4 targets, measured side by side")
    p.add_argument("prompt", nargs="?", help="the prompt (not with --rerun)")
    p.add_argument("--target", action="append", default=[], help=f"backend:model, 2 to {MAX_TARGETS} times")
    p.add_argument("--image", action="append", default=[], help="an image file sent to every target (repeatable)")
    p.add_argument("--video", help="a video file; --frames frames sampled uniformly go to every target")
    p.add_argument("--frames", type=int, default=6, help="frames to sample from --video (default 6)")
    p.add_argument("--concurrent", action="store_true",
                   help="run local targets at the same time (default: one after another, for fair speeds)")
    p.add_argument("--export", metavar="FILE", help="write the run file (JSON) here")
    p.add_argument("--rerun", metavar="FILE", help="re-run a run file exported by the page or --export")
    p.add_argument("--leaderboard", action="store_true", help="print the Elo leaderboard of blind votes and exit")
    add_generation_flags(p)
    p.add_argument("--json", action="store_true", help='print {"results": [...]} in target order')
    p.set_defaults(func=run)


def read_image(path: str):
    """An image file as an ImagePart, checked by its content (the name only labels it)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(media.MAX_IMAGE_BYTES + 1)  # past the cap is refused by prepare_image
    except OSError as exc:
        raise BadRequest(f"Cannot read image {path}: {exc.strerror or exc}.") from None
    return media.prepare_image(Path(path).name, data).part


def spec_from_args(args) -> CompareSpec:
    """Build the comparison from flags, or from the run file for --rerun."""
    if args.rerun:
        if args.prompt or args.target or args.image or args.video:
            raise BadRequest("--rerun repeats a saved run; leave out the prompt, --target, --image and --video.")
        if args.response_format or args.schema:
            # a run file carries each target's response format; a flag here would be silently dropped
            raise BadRequest("--rerun repeats a saved run with its own response format; "
                             "leave out --response-format and --schema.")
        try:
            with open(args.rerun, "rb") as fh:
                # one byte past the cap: an oversized file is refused without reading all of it
                raw = fh.read(runfile.MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise BadRequest(f"Cannot read run file {args.rerun}: {exc.strerror or exc}.") from None
        return runfile.spec_from_run(runfile.loads(raw))
    if args.prompt is None:
        raise BadRequest('Give a prompt: compare "PROMPT" --target A --target B, or compare --rerun FILE.')
    if len(args.target) < 2:
        raise BadRequest(f"Give 2 to {MAX_TARGETS} targets with --target (got {len(args.target)}).")
    images = [read_image(p) for p in args.image]
    if args.video:
        images += video.sample(Path(args.video), frames=args.frames, max_frames=max(args.frames, 1),
                               name=Path(args.video).name).parts()
    return CompareSpec.build(args.prompt, args.target, params_from_args(args), system=args.system or "",
                             images=images, concurrent_local=args.concurrent)


def print_table(compare) -> None:
    """Each answer, then one speed line per target."""
    for r in compare.results:
        print(f"=== {r.target} ===")
        print(r.error and f"[error] {r.error}" or r.text)
        metrics = r.metrics or {}
        if not r.error and (metrics.get("schema_valid") is not None or metrics.get("schema_error")):
            print(schema_line(metrics.get("schema_valid"), metrics.get("schema_error") or ""))
        print()
    rows = {row["index"]: row for row in speed_summary(compare.results)}
    print(f"{'target':45s} {'TTFT s':>8s} {'tok/s':>8s} {'total s':>8s} {'vs best':>8s}  mode")
    for r in compare.results:
        row = rows.get(r.index)
        if row is None:
            print(f"{r.target:45s} {'error':>8s}")
            continue

        def f(v):
            return "-" if v is None else f"{v:.2f}"
        slower = "-" if row["x_slower"] is None else f"{row['x_slower']:.2f}x"
        print(f"{r.target:45s} {f(row['ttft_s']):>8s} {f(row['tokens_per_s']):>8s} {f(row['total_s']):>8s} "
              f"{slower:>8s}  {r.mode}")
    print(f"wall time {compare.wall_s:.2f} s")


def leaderboard(args) -> int:
    """Elo, votes and win rate per target, from the votes stored by the page's blind mode."""
    rows = board(open_store().list_votes())
    if args.json:
        print_json({"leaderboard": rows})
        return 0
    if not rows:
        print("No votes yet: vote in blind mode on the Compare page.")
        return 0
    print(f"{'target':45s} {'Elo':>6s} {'votes':>6s} {'wins':>5s} {'losses':>6s} {'ties':>5s} {'both bad':>8s} {'win rate':>8s}")
    for r in rows:
        print(f"{r['target']:45s} {r['elo']:6.0f} {r['votes']:6d} {r['wins']:5d} {r['losses']:6d} {r['ties']:5d} "
              f"{r['both_bad']:8d} {r['win_rate']:8.0%}")
    return 0


def run(args) -> int:
    if args.leaderboard:
        return leaderboard(args)
    spec = spec_from_args(args)
    for t in spec.targets:
        try:
            ensure_embedded(Target.parse(t))
        except PlaygroundError as exc:
            # that column will report it; the other targets still run
            print(f"note: {t}: {exc.user_message()}", file=sys.stderr)
    compare = run_compare(spec)
    if args.export:
        text = runfile.dumps(runfile.run_from(compare))
        try:
            Path(args.export).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise BadRequest(f"Cannot write {args.export}: {exc.strerror or exc}.") from None
    if args.json:
        print_json({"results": [r.to_json() for r in compare.results], "wall_s": compare.wall_s})
    else:
        print_table(compare)
        if args.export:
            print(f"run file written to {args.export}", file=sys.stderr)
    # partial failures are shown per target; only a run where nothing answered is a failure
    return 0 if any(r.ok for r in compare.results) else 1
