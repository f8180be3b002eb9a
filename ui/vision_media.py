"""Vision page widgets: image and video uploads with frame sampling, the media strip, OCR readings, the token estimate."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import streamlit as st

from services.conversations.rows import Attachment, Turn
from services.conversations.vision import Media, media_digest, split_media
from services.errors import PlaygroundError
from services.media import images as media
from services.media import video, vision
from services.types import ImagePart, Target, TargetInfo
from ui.frame_strip import frame_strip, progress_reporter
from ui.metrics_card import metrics_caption
from ui.safe_markdown import plain, sanitize, show

STRATEGY_LABELS = {"uniform": "Uniform (N frames)", "fps": "Fixed rate", "scene": "Scene changes"}
# decoded images and sampled videos kept per session, so a widget click does not redo them
CACHE_ENTRIES = 24
# the caps on the sliders: more frames than this overflow any vision model's context
MAX_FRAMES = 32


@dataclass
class Uploads:
    """What the uploaders hold now, checked and sampled: photos, frames, and the video's facts."""

    images: list[ImagePart] = field(default_factory=list)
    frames: list[ImagePart] = field(default_factory=list)
    note: str = ""
    warnings: list[str] = field(default_factory=list)
    num_crops: int | None = None

    @property
    def parts(self) -> list[ImagePart]:
        """Photos then frames: the order the model numbers them in."""
        return self.images + self.frames

    @property
    def media(self) -> Media:
        """What a new conversation about these uploads stores with its first question."""
        return Media(self.images, self.frames, self.note)

    @property
    def digest(self) -> str:
        """Changes exactly when the uploaded media changes."""
        return media_digest(self.parts)


def _key(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _cached(key: str, make):
    # decoding and sampling are slow; reruns (every widget click) reuse the results
    cache = st.session_state.setdefault("vision_media_cache", {})
    if key not in cache:
        if len(cache) > CACHE_ENTRIES:
            cache.clear()
        try:
            cache[key] = ("ok", make())
        except PlaygroundError as exc:
            cache[key] = ("error", exc.user_message())
    return cache[key]


def _light(result: video.SampleResult, name: str) -> dict:
    # keep only the JPEG frames and the facts: the RGB arrays would hold ~100 MB per sampling
    i = result.info
    note = (f"{name}: {vision.format_timestamp(i.duration_s)} long, {i.fps:g} fps, about {i.frame_count} frames, "
            f"{i.width}x{i.height}, {i.codec} · {result.method}")
    return {"parts": result.parts(), "note": note, "notes": list(result.notes)}


def uploads(target: str) -> Uploads:
    """The two uploaders and the sampling settings; every file is checked by content, errors shown."""
    up1, up2 = st.columns(2)
    images = up1.file_uploader("Images", type=list(media.IMAGE_EXTENSIONS), accept_multiple_files=True, key="vision_images",
                               max_upload_size=media.MAX_IMAGE_BYTES // media.MB,
                               help="PNG, JPEG, WebP, BMP or GIF (first frame). Checked by content, not by name.")
    clip = up2.file_uploader("Video", type=list(media.VIDEO_EXTENSIONS), key="vision_video", max_upload_size=media.MAX_VIDEO_BYTES // media.MB,
                             help="MP4, MOV, WebM, MKV or AVI. Frames are sampled; nothing else is sent.")
    with st.expander("Frame sampling and image tokens", expanded=clip is not None):
        c1, c2, c3 = st.columns(3)
        strategy = c1.radio("Strategy", list(STRATEGY_LABELS), format_func=STRATEGY_LABELS.get, key="vision_strategy")
        n_frames = c2.slider("Frames (N)", 1, MAX_FRAMES, video.DEFAULT_FRAMES, key="vision_frames",
                             disabled=strategy != "uniform")
        rate = c2.number_input("Rate (frames per second)", 0.05, 30.0, video.DEFAULT_RATE, 0.05, key="vision_rate",
                               disabled=strategy != "fps")
        threshold = c3.slider("Scene threshold", 0.05, 0.95, video.DEFAULT_THRESHOLD, 0.05, key="vision_threshold",
                              disabled=strategy != "scene", help="histogram distance that counts as a new scene")
        max_frames = c3.slider("Max frames", 1, MAX_FRAMES, 16, key="vision_max_frames", disabled=strategy == "uniform",
                               help="cap for fixed-rate and scene sampling")
        crops = c1.selectbox("num_crops", ["auto", 4, 16], key="vision_crops",
                             help="Phi-3.5-vision tiles: 4 for many frames, 16 for a single image (auto picks)")
    out = Uploads(num_crops=None if crops == "auto" else int(crops))
    side = vision.max_side_for(target)
    for f in images or []:
        data = f.getvalue()
        status, value = _cached(_key("img", f.file_id, len(data), side),
                                lambda d=data, n=f.name, s=side: media.prepare_image(n, d, max_side=s))
        if status == "error":
            st.error(sanitize(value))  # the other uploads keep working
        else:
            out.images.append(value.part)
    if clip is not None:
        data = clip.getvalue()
        key = _key("vid", clip.file_id, len(data), strategy, n_frames, rate, threshold, max_frames)
        if key not in st.session_state.get("vision_media_cache", {}):
            report, done = progress_reporter(f"Sampling {clip.name}")
            _cached(key, lambda: _light(video.sample(data, strategy=strategy, frames=n_frames, rate=rate,
                                                     threshold=threshold, max_frames=max_frames, name=clip.name,
                                                     progress=report), clip.name))
            done()
        status, value = st.session_state.vision_media_cache[key]
        if status == "error":
            st.error(sanitize(value))
        else:
            out.frames, out.note, out.warnings = list(value["parts"]), value["note"], value["notes"]
    return out


def media_strip(parts: Sequence[ImagePart], note: str = "", warnings: Sequence[str] = ()) -> None:
    """The photos and the frames, numbered as the model sees them, with the video's facts."""
    photos, frames = split_media(parts)
    if photos:
        st.subheader(f"Images ({len(photos)})")
        frame_strip(photos)
    if frames:
        st.subheader(f"Frames used ({len(frames)})")
        if note:
            st.caption(plain(note))
        for warning in warnings:
            st.warning(sanitize(warning))
        frame_strip(frames, start=len(photos) + 1)


def ocr_readings(target: str, parts: Sequence[ImagePart]) -> None:
    """For the OCR target: the text read from each image, its boxes drawn on a copy."""
    if not parts or Target.parse(target).backend != "ocr":
        return
    status, value = _cached(_key("ocr", target, media_digest(parts)), lambda: vision.ocr_readings(target, parts))
    with st.expander("What the OCR target reads (the model gets only this text)", expanded=True):
        if status == "error":
            st.error(sanitize(value))
            return
        for entry in value:
            pic, words = st.columns([3, 2])
            pic.image(entry["annotated_png"], caption=plain(f"{entry['label']}: {entry['name']}"))
            words.markdown(f"**{plain(entry['label'])}** · mostly {plain(' and '.join(entry['colours']))}")
            words.code(entry["text"], language=None)


def token_estimate(info: TargetInfo, parts: Sequence[ImagePart], num_crops: int | None, max_tokens: int) -> None:
    """The Phi-3.5-vision image-token estimate against the target's context, or why it does not fit."""
    if not parts:
        return
    context = info.capabilities.context_length
    est = vision.estimate_parts(parts, num_crops)
    crops_used = num_crops or vision.recommended_num_crops(len(parts))
    problem = vision.budget_check(est, 0, max_tokens, context)
    line = (f"Image-token estimate (Phi-3.5-vision, num_crops={crops_used:d}): **{est:,}** tokens for "
            f"{len(parts):d} image(s), against a context of {context:,}.")
    if Target.parse(info.target).backend == "ocr":
        line += " The OCR target sends text instead, so its real prompt is far smaller."
        problem = None
    # a statement, not a bare expression: Streamlit "magic" would render the returned element's help
    if problem:
        st.warning(sanitize(problem))
    else:
        st.caption(sanitize(line))


def target_note(info: TargetInfo) -> None:
    """What the chosen target does with pictures: reads their text (OCR), sees them, or cannot take them."""
    if Target.parse(info.target).backend == "ocr":
        st.info("This offline target **reads the text** in each image or frame (RapidOCR) and a small local model "
                "answers from that text plus simple facts (size, main colours). It does not see pictures.")
    elif not info.capabilities.images:
        st.warning(sanitize(f"{info.target} reads text only. Pick a vision target (for example {vision.OFFLINE_TARGET})."))


def media_count(attachments: Sequence[Attachment]) -> str:
    """'1 image', '2 images and 8 frames': what a question was asked about."""
    frames = sum(1 for a in attachments if a.timestamp_s is not None)
    photos = len(attachments) - frames
    said = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in ((photos, "image"), (frames, "frame")) if n]
    return " and ".join(said)


def turn(shown: Turn, *, first: bool = False) -> None:
    """One stored question or answer with its error, incomplete mark and metrics."""
    msg = shown.message
    with st.chat_message(msg.role):
        if first and msg.attachments:
            st.caption(plain("About " + media_count(msg.attachments) + " above"))
        show(msg.content)
        if msg.error.strip():
            st.error(sanitize(msg.error))
        if msg.role == "assistant" and msg.stopped_early:
            st.warning("Stopped before the end: this answer is incomplete.")
        if msg.role == "assistant" and msg.metrics:
            metrics_caption(msg.metrics, msg.finish_reason)
            st.caption(plain(msg.target or ""))
