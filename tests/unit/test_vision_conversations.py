"""Vision conversations through the store: media on the first question, follow-ups, failures kept, reopened."""

from __future__ import annotations

import base64

import pytest

from services.conversations import vision as vconv
from services.conversations.import_export import export_json_text, import_json
from services.conversations.rows import TurnSettings
from services.conversations.store import Store
from services.errors import BadRequest, PlaygroundError
from services.media.images import prepare_image
from services.types import GenerationParams, ImagePart
from tests.fixtures.media_files import text_image
from tests.standins.ollama_ndjson import OllamaStandIn

TARGET = "ollama:llava-phi3"
PARAMS = GenerationParams(max_tokens=16)
BRIEF = TurnSettings(TARGET, PARAMS, "Be brief.")


@pytest.fixture()
def ollama(monkeypatch):
    # a loopback stand-in of Ollama's documented API (no Ollama server can be installed here)
    with OllamaStandIn(models=("llava-phi3:latest",), reply=("It", " says", " STOP", ".")) as srv:
        monkeypatch.setenv("OLLAMA_HOST", srv.root)
        yield srv


def _media() -> tuple[list[ImagePart], list[ImagePart]]:
    photo = prepare_image("sign.png", text_image("STOP")).part
    frame_data = prepare_image("clip.mp4", text_image("EXIT", bg=(0, 120, 0))).part
    late = ImagePart(frame_data.data, frame_data.mime, "clip.mp4 @ 0:02.0", 2.0)
    early = ImagePart(frame_data.data, frame_data.mime, "clip.mp4 @ 0:00.5", 0.5)
    return [photo], [late, early]


def test_a_vision_conversation_round_trips_through_a_file(tmp_path, ollama):
    db = tmp_path / "playground.db"
    store = Store(db)
    photos, frames = _media()
    # llava-phi3 takes one image: a frame, so its time goes into the prompt
    reply = vconv.send(store, None, "What does the sign say?", BRIEF,
                       vconv.Media(frames=frames[:1], note="clip.mp4: 0:04.0 long"))
    conv_id = reply.conv_id
    assert reply.text() == "It says STOP." and reply.outcome.finish_reason == "stop"
    first = ollama.chat_requests[0].json["messages"]
    assert [m["role"] for m in first] == ["system", "user"]
    assert len(first[1]["images"]) == 1 and "image 1 at 0:02.0" in first[1]["content"]
    assert first[1]["images"][0] == base64.b64encode(frames[0].data).decode()

    follow = vconv.send(store, conv_id, "And the door?", BRIEF)
    follow.text()
    assert follow.conv_id == conv_id
    second = ollama.chat_requests[1].json["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    # the media goes once, with the first question; the follow-up is text
    assert len(second[1]["images"]) == 1 and "images" not in second[3]
    assert second[2]["content"] == "It says STOP." and second[3]["content"] == "And the door?"
    store.close()

    again = Store(db)
    conv = again.get_conversation(conv_id)
    assert conv.kind == "vision" and conv.title == "What does the sign say?"
    assert (conv.target, conv.params, conv.system) == (TARGET, PARAMS, "Be brief.")
    assert [c.kind for c in again.list_conversations()] == ["vision"]
    (part,) = vconv.media(again, conv_id)
    assert (part.label, part.timestamp_s, part.data) == ("clip.mp4 @ 0:02.0", 2.0, frames[0].data)
    turns = vconv.turns(again, conv_id)
    assert [(t.message.role, t.message.content) for t in turns] == [
        ("user", "What does the sign say?"), ("assistant", "It says STOP."),
        ("user", "And the door?"), ("assistant", "It says STOP.")]
    assert turns[0].message.notice == "clip.mp4: 0:04.0 long" and turns[1].message.metrics.completion_tokens == 4
    # an export keeps it a vision conversation
    copy = import_json(again, export_json_text(again, conv_id).encode())
    assert again.get_conversation(copy).kind == "vision" and len(vconv.media(again, copy)) == 1


def test_a_failed_question_keeps_its_media_and_is_not_resent(tmp_path, ollama):
    store = Store(tmp_path / "playground.db")
    photos, frames = _media()
    with pytest.raises(PlaygroundError):
        # too many images for this target: the question and its media are stored anyway
        vconv.send(store, None, "Read it", TurnSettings(TARGET, PARAMS), vconv.Media(photos, frames)).text()
    (conv,) = store.list_conversations()
    stored = vconv.turns(store, conv.id)
    assert stored[-1].message.content == "Read it" and "at most 1 images" in stored[-1].message.error
    assert ollama.chat_requests == []
    # photos first, then frames in time order
    parts = vconv.media(store, conv.id)
    assert [p.label for p in parts] == ["sign.png", "clip.mp4 @ 0:00.5", "clip.mp4 @ 0:02.0"]
    assert parts[0].data == photos[0].data and [p.timestamp_s for p in parts] == [None, 0.5, 2.0]
    assert [len(half) for half in vconv.split_media(parts)] == [1, 2]
    # asking again (a target that takes them all): the failed question stays on screen but is not
    # sent again; the media goes with the new one
    msgs = vconv.history(store, conv.id, vconv.ask(store, conv.id, "Read it, please")[1])
    assert [(m.role, m.content, len(m.images)) for m in msgs] == [("user", "Read it, please", 3)]


def test_questions_need_media_text_and_a_vision_conversation(tmp_path):
    store = Store(tmp_path / "playground.db")
    photos, frames = _media()
    with pytest.raises(BadRequest, match="Add images or a video"):
        vconv.ask(store, None, "What is this?")
    with pytest.raises(BadRequest, match="Type a question"):
        vconv.ask(store, None, "  ", media=vconv.Media(photos))
    assert store.list_conversations() == []
    conv_id, _ = vconv.ask(store, None, "What is this?", media=vconv.Media(photos, frames))
    with pytest.raises(BadRequest, match="empty"):
        vconv.ask(store, conv_id, " ")
    chat = store.create_conversation()
    with pytest.raises(BadRequest, match="not a vision conversation"):
        vconv.ask(store, chat, "And this?")
    with pytest.raises(BadRequest, match="one of chat, vision"):
        store.create_conversation(kind="audio")
    # the digest names the stored media: photos, then frames in time order
    assert vconv.media_digest(vconv.media(store, conv_id)) == vconv.media_digest(photos + frames[::-1])
    assert vconv.media_digest(photos) != vconv.media_digest(frames)
