"""Vision page: questions about several images and a video's sampled frames, with follow-ups."""

from __future__ import annotations

import hashlib

import streamlit as st

from services.media import images as media

from services.media import video

from services.media import vision
from services.chat import MAX_PROMPT_CHARS, start_chat
from services.errors import IncompleteGeneration, PlaygroundError
from services.types import Message
from ui.code_panel import code_panel
from ui.code_panel import code_panel
from ui.frame_strip import frame_strip, progress_reporter
from ui.metrics_card import metrics_caption
from ui.params_panel import params_panel
from ui.provisioning import ensure_embedded_ready
from ui.safe_markdown import LiveMarkdown, plain, sanitize, show
from ui.target_picker import pick_target

IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
VIDEO_TYPES = ["mp4", "mov", "m4v", "webm", "mkv", "avi"]
STRATEGY_LABELS = {"uniform": "Uniform (N frames)", "fps": "Fixed rate", "scene": "Scene changes"}

state = st.session_state
state.setdefault("vision_turns", [])
state.setdefault("vision_media_cache", {})

st.title("🖼️ Vision")
st.caption("Ask about several images and a video. You see exactly which frames the model gets, and when.")

with st.sidebar:
    info = pick_target("vision_target", default=vision.OFFLINE_TARGET,
                       help="Targets that take images: the offline OCR one, ONNX Phi-3.5-vision, cloud vision models.")
    target = info.target
    caps = info.capabilities
    params, system = params_panel("vision", set(caps.ignored_params), local=caps.local)
    if st.button("New conversation", key="vision_clear", width="stretch"):
        state.vision_turns = []
        st.rerun()

if target.startswith("ocr:"):
    st.info("This offline target **reads the text** in each image or frame (RapidOCR) and a small local model "
            "answers from that text plus simple facts (size, main colours). It does not see pictures.")
elif not caps.images:
    st.warning(sanitize(f"{target} reads text only. Pick a vision target (for example {vision.OFFLINE_TARGET})."))


def _key(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _cached(key: str, make):
    # decoding and sampling are slow; reruns (every widget click) reuse the results
    cache = state.vision_media_cache
    if key not in cache:
        if len(cache) > 24:
            cache.clear()
        try:
            cache[key] = ("ok", make())
        except PlaygroundError as exc:
            cache[key] = ("error", exc.user_message())
    return cache[key]


def _light(result: video.SampleResult) -> dict:
    return {"info": result.info, "parts": result.parts(), "method": result.method, "notes": result.notes}


# ---------- media ----------
up1, up2 = st.columns(2)
uploaded_images = up1.file_uploader("Images", type=IMAGE_TYPES, accept_multiple_files=True, key="vision_images",
                                    max_upload_size=media.MAX_IMAGE_BYTES // media.MB,
                                    help="PNG, JPEG, WebP, BMP or GIF (first frame). Checked by content, not by name.")
uploaded_video = up2.file_uploader("Video", type=VIDEO_TYPES, key="vision_video",
                                   max_upload_size=media.MAX_VIDEO_BYTES // media.MB,
                                   help="MP4, MOV, WebM, MKV or AVI. Frames are sampled; nothing else is sent.")

with st.expander("Frame sampling and image tokens", expanded=uploaded_video is not None):
    c1, c2, c3 = st.columns(3)
    strategy = c1.radio("Strategy", list(STRATEGY_LABELS), format_func=STRATEGY_LABELS.get, key="vision_strategy")
    n_frames = c2.slider("Frames (N)", 1, 32, video.DEFAULT_FRAMES, key="vision_frames",
                         disabled=strategy != "uniform")
    rate = c2.number_input("Rate (frames per second)", 0.05, 30.0, video.DEFAULT_RATE, 0.05, key="vision_rate",
                           disabled=strategy != "fps")
    threshold = c3.slider("Scene threshold", 0.05, 0.95, video.DEFAULT_THRESHOLD, 0.05, key="vision_threshold",
                          disabled=strategy != "scene", help="histogram distance that counts as a new scene")
    max_frames = c3.slider("Max frames", 1, 32, 16, key="vision_max_frames", disabled=strategy == "uniform",
                           help="cap for fixed-rate and scene sampling")
    crops_choice = c1.selectbox("num_crops", ["auto", 4, 16], key="vision_crops",
                                help="Phi-3.5-vision tiles: 4 for many frames, 16 for a single image (auto picks)")

images: list = []
for f in uploaded_images or []:
    data = f.getvalue()
    side = vision.max_side_for(target)
    status, value = _cached(_key("img", f.file_id, len(data), side),
                            lambda d=data, n=f.name, s=side: media.prepare_image(n, d, max_side=s))
    if status == "error":
        st.error(sanitize(value))  # the other uploads keep working
    else:
        images.append(value)

sampled = None
if uploaded_video is not None:
    data = uploaded_video.getvalue()
    key = _key("vid", uploaded_video.file_id, len(data), strategy, n_frames, rate, threshold, max_frames)
    if key not in state.vision_media_cache:
        report, done = progress_reporter(f"Sampling {uploaded_video.name}")
        # keep only the JPEG frames and the facts: the RGB arrays would hold ~100 MB per sampling
        _cached(key, lambda: _light(video.sample(data, strategy=strategy, frames=n_frames, rate=rate,
                                                 threshold=threshold, max_frames=max_frames,
                                                 name=uploaded_video.name, progress=report)))
        done()
    status, value = state.vision_media_cache[key]
    if status == "error":
        st.error(sanitize(value))
    else:
        sampled = value

image_parts = [p.part for p in images]
frame_parts = sampled["parts"] if sampled else []
all_parts = image_parts + frame_parts

if image_parts:
    st.subheader(f"Images ({len(image_parts)})")
    frame_strip(image_parts)
if sampled:
    i = sampled["info"]
    st.subheader(f"Frames used ({len(frame_parts)})")
    st.caption(plain(f"{uploaded_video.name}: {vision.format_timestamp(i.duration_s)} long, {i.fps:g} fps, "
               f"about {i.frame_count} frames, {i.width}x{i.height}, {i.codec} · {sampled['method']}"))
    for note in sampled["notes"]:
        st.warning(sanitize(note))
    frame_strip(frame_parts, start=len(image_parts) + 1)

if all_parts and target.startswith("ocr:"):
    # what the model is given: the text read from each image, its boxes drawn on a copy
    status, value = _cached(_key("ocr", target, tuple(hashlib.sha256(p.data).hexdigest() for p in all_parts)),
                            lambda: vision.ocr_readings(target, all_parts))
    with st.expander("What the OCR target reads (the model gets only this text)", expanded=True):
        if status == "error":
            st.error(sanitize(value))
        else:
            for entry in value:
                pic, words = st.columns([3, 2])
                pic.image(entry["annotated_png"], caption=plain(f"{entry['label']}: {entry['name']}"))
                words.markdown(f"**{plain(entry['label'])}** · mostly {plain(' and '.join(entry['colours']))}")
                words.code(entry["text"], language=None)

num_crops = None if crops_choice == "auto" else int(crops_choice)
if all_parts:
    est = vision.estimate_parts(all_parts, num_crops)
    crops_used = num_crops or vision.recommended_num_crops(len(all_parts))
    max_tokens = params.max_tokens if params else 0
    problem = vision.budget_check(est, 0, max_tokens, caps.context_length)
    line = (f"Image-token estimate (Phi-3.5-vision, num_crops={crops_used}): **{est:,}** tokens for "
            f"{len(all_parts)} image(s), against a context of {caps.context_length:,}.")
    if target.startswith("ocr:"):
        line += " The OCR target sends text instead, so its real prompt is far smaller."
        problem = None
    # a statement, not a bare expression: Streamlit "magic" would render the returned element's help
    if problem:
        st.warning(sanitize(problem))
    else:
        st.caption(sanitize(line))

# the conversation belongs to the media it was about: new media starts a new one
media_sig = _key("media", tuple(hashlib.sha256(p.data).hexdigest() for p in all_parts))
if state.get("vision_media_sig") != media_sig:
    if state.vision_turns:
        st.info("The media changed, so a new conversation started.")
    state.vision_turns = []
    state.vision_media_sig = media_sig


def render_turn(turn: dict) -> None:
    """One stored turn with its metrics."""
    with st.chat_message(turn["role"]):
        show(turn["content"])
        if turn.get("error"):
            st.error(sanitize(turn["error"]))
        if turn.get("finish_reason") in ("incomplete", "cancelled"):
            st.warning("Stopped before the end: this answer is incomplete.")
        if turn["role"] == "assistant" and turn.get("metrics"):
            metrics_caption(turn["metrics"], turn.get("finish_reason"))
            st.caption(plain(turn.get("target", "")))


for turn in state.vision_turns:
    render_turn(turn)
# the last question asked in this session, as a script for its target's runtime
code_panel(state.get("vision_last_request"), key="vision_code")
# the last question asked in this session, as a script for its target's runtime
code_panel(state.get("vision_last_request"), key="vision_code")

ready = info.available and caps.images and params is not None and bool(all_parts)
hint = ("Ask about the images and frames…" if ready else
        "Add images or a video first" if not all_parts else "Pick an available vision target first")
question = st.chat_input(hint, disabled=not ready, key="vision_input", max_chars=MAX_PROMPT_CHARS)

if question is not None:
    if not question.strip():
        st.warning("Type a question first: it is empty.")
        st.stop()
    state.vision_turns.append({"role": "user", "content": question})
    render_turn(state.vision_turns[-1])
    if not ensure_embedded_ready(target):
        st.stop()
    # the first question carries the media; follow-ups ask about the same media
    history = [Message("system", system)] if system.strip() else []
    for t in state.vision_turns:
        if t.get("error") or not t.get("content"):
            continue  # a failed question or an empty answer stays on screen but is not resent
        if t["role"] == "user" and len(history) == (1 if system.strip() else 0):
            history.append(vision.question_message(t["content"], image_parts, frame_parts))
        else:
            history.append(Message(t["role"], t["content"]))
    # "cancelled" until the stream says otherwise: a Stop click (fast rerun) starts the next run at once
    answer = {"role": "assistant", "content": "", "target": target, "metrics": {}, "finish_reason": "cancelled"}
    with st.chat_message("assistant"):
        try:
            with st.spinner("Reading the images and loading the model…"):
                stream = start_chat(target, history, params)
                state.vision_last_request = stream.request  # for the Code panel
                state.vision_last_request = stream.request  # for the Code panel
        except PlaygroundError as exc:
            st.error(sanitize(exc.user_message()))
            state.vision_turns[-1]["error"] = exc.user_message()
            st.stop()
        for notice in stream.notices:
            st.info(sanitize(notice))
        st.button("⏹ Stop", key=f"vision_stop_{len(state.vision_turns)}")
        # kept in the session before streaming and filled in place: after a Stop click the next run
        # starts in a new thread while this one is still closing, so appending in `finally` came too late
        state.vision_turns.append(answer)
        # re-rendered at most every 0.1 s: parsing the whole answer per token would be quadratic
        live = LiveMarkdown(st)
        try:
            for piece in stream.text_chunks():
                answer["content"] += piece
                live.update(answer["content"])
            answer["finish_reason"] = stream.finish_reason
        except PlaygroundError as exc:
            answer["finish_reason"] = "incomplete"
            answer["error"] = exc.user_message()
            if isinstance(exc, IncompleteGeneration) and exc.partial_text:
                answer["content"] = exc.partial_text
        finally:
            stream.close()
            answer["finish_reason"] = answer["finish_reason"] or "cancelled"
            answer["metrics"] = stream.metrics.to_dict()
    st.rerun()
