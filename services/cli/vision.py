"""`vision`: a question about images and/or a video's sampled frames (or a follow-up), stored, streamed or printed as JSON."""

from __future__ import annotations

import sys
from pathlib import Path

from services.media import images as media, video, vision


from services.cli.chat import ensure_embedded, print_answer
from services.cli.common import add_generation_flags, print_json, settings_from_args
from services.codegen import script_for
from services.conversations import vision as vconv
from services.conversations.store import open_store
from services.errors import BadRequest, MediaError
from services.types import ChatRequest, Message, Target


def register(sub) -> None:
    p = sub.add_parser("vision", help="ask about images and video frames")
    p.add_argument("question")
    p.add_argument("--image", action="append", default=[], metavar="FILE", help="an image (repeatable)")
    p.add_argument("--video", metavar="FILE", help="a video to sample frames from")
    p.add_argument("--frames", type=int, default=video.DEFAULT_FRAMES, help="frames for uniform sampling")
    p.add_argument("--sampling", choices=video.STRATEGIES, default="uniform")
    p.add_argument("--rate", type=float, default=video.DEFAULT_RATE, help="frames per second for --sampling fps")
    p.add_argument("--threshold", type=float, default=video.DEFAULT_THRESHOLD,
                   help="scene change threshold (0-1) for --sampling scene")
    p.add_argument("--max-frames", type=int, default=32, help="cap for fps and scene sampling")
    p.add_argument("--num-crops", type=int, default=None, help="for the image-token estimate (4 many, 16 one)")
    p.add_argument("--target", default=None,
                   help=f"default: the conversation's target, else {vision.OFFLINE_TARGET}")
    p.add_argument("--conversation", metavar="ID",
                   help="a follow-up in this stored vision conversation, about its images and frames "
                        "(every question is stored; `conversations` lists them)")
    add_generation_flags(p, response_format=False)
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument("--show-code", action="store_true",
                   help="print a Python script (images inside it, as base64) that sends this request, instead of running it")
    p.set_defaults(func=run)


def _read(path: str, cap: int) -> bytes:
    f = Path(path)
    if not f.is_file():
        raise MediaError(f"{path} is not a file.")
    if f.stat().st_size > cap:
        raise MediaError(f"{f.name} is {f.stat().st_size / media.MB:.1f} MB, over the {cap // media.MB} MB limit.")
    return f.read_bytes()


def _progress(fraction: float, message: str) -> None:
    print(f"\r[video {fraction:4.0%}] {message:<60}", end="", file=sys.stderr, flush=True)


def show_code(target, params, messages) -> int:
    """Print the script for this request (one file: the images go inside it); nothing is generated."""
    sys.stdout.write(script_for(ChatRequest(target, tuple(messages), params), inline_images=True).text)
    return 0


def _media(args, target) -> tuple[list, object]:
    """The checked images (--image) and the sampled video (--video, or None)."""
    if not args.image and not args.video:
        raise MediaError("Give at least one --image or a --video.")
    side = vision.max_side_for(str(target))
    images = [media.prepare_image(Path(p).name, _read(p, media.MAX_IMAGE_BYTES), max_side=side) for p in args.image]
    sampled = None
    if args.video:
        src = Path(args.video)
        if not src.is_file():
            raise MediaError(f"{args.video} is not a file.")
        sampled = video.sample(src, strategy=args.sampling, frames=args.frames, rate=args.rate,
                               threshold=args.threshold, max_frames=args.max_frames, name=src.name,
                               progress=None if args.json else _progress)
        if not args.json:
            print(file=sys.stderr)
            for note in sampled.notes:
                print(f"note: {note}", file=sys.stderr)
    return images, sampled


def run(args) -> int:
    store = open_store()
    if store.notice:
        print(f"note: {store.notice}", file=sys.stderr)
    conv = vconv.require(store, args.conversation) if args.conversation else None
    # a follow-up keeps the conversation's target, parameters and system prompt unless a flag says otherwise
    settings = settings_from_args(args, conv, vision.OFFLINE_TARGET, "")
    target, params, system = settings.target, settings.params, settings.system
    if conv is not None:
        if args.image or args.video:
            raise BadRequest("A follow-up asks about the conversation's stored images and frames: leave out --image "
                             "and --video (new media starts a new conversation without --conversation).")
        images, sampled = [], None
        stored = vconv.media(store, conv.id)
        photos, frames = [p for p in stored if p.timestamp_s is None], [p for p in stored if p.timestamp_s is not None]
    else:
        images, sampled = _media(args, target)
        photos, frames = [i.part for i in images], sampled.parts() if sampled else []
    message = vision.question_message(args.question, photos, frames)
    estimate = vision.estimate_parts(message.images, args.num_crops)
    if args.show_code:
        if conv is not None:  # the stored turns (media on the first question), then this follow-up
            last = vconv.turns(store, conv.id)[-1].message.id
            messages = vconv.history(store, conv.id, last, system) + [Message("user", message.content)]
        else:
            messages = ([Message("system", system)] if system else []) + [message]
        return show_code(Target.parse(target), params, messages)
    ensure_embedded(target)
    note = ""
    if sampled is not None:
        i = sampled.info
        note = (f"{Path(args.video).name}: {vision.format_timestamp(i.duration_s)} long, {i.fps:g} fps, "
                f"about {i.frame_count} frames, {i.width}x{i.height}, {i.codec} · {sampled.method}")
    # the question (with its media, when new) is stored before generation starts, the answer as it streams
    reply = vconv.send(store, args.conversation, args.question, settings, vconv.Media(photos, frames, note))
    if args.json:
        reply.text()  # stored; a failure raised
        outcome = reply.outcome
        m = outcome.metrics
        # what the OCR target read from each image and frame (empty for targets that see them)
        read = vision.ocr_readings(str(target), message.images, with_png=False)
        print_json({
            "target": str(target), "text": outcome.text, "finish_reason": outcome.finish_reason,
            "metrics": {k: getattr(m, k) for k in ("ttft_s", "decode_tokens_per_s", "prompt_tokens",
                                                    "completion_tokens", "total_s", "load_s")},
            "images": [{"name": i.part.label, "width": i.width, "height": i.height} for i in images],
            "frames": sampled.frames_json() if sampled else [],
            "video": {**sampled.info.__dict__, "method": sampled.method, "notes": sampled.notes} if sampled else None,
            "image_tokens_estimate": estimate,
            "read": read,
            "conversation_id": reply.conv_id,
        })
        return 0
    for entry in vision.ocr_readings(str(target), message.images, with_png=False):
        print(f"{entry['label']} read: " + "; ".join(ln["text"] for ln in entry["lines"]) if entry["lines"]
              else f"{entry['label']} read: (no text found)", file=sys.stderr)
    print(f"{len(photos)} image(s), {len(frames)} frame(s) "
          + (f"at {', '.join(vision.format_timestamp(p.timestamp_s) for p in frames)} " if frames else "")
          + f"(~{estimate} Phi-3.5-vision image tokens)", file=sys.stderr)
    outcome = print_answer(reply)
    m = outcome.metrics
    print(f"[{outcome.finish_reason}] ttft {m.ttft_s}s, {m.decode_tokens_per_s} tok/s, "
          f"{m.prompt_tokens} in / {m.completion_tokens} out, load {m.load_s}s · conversation {reply.conv_id}",
          file=sys.stderr)
    return 0
