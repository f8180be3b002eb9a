"""`vision` on the command line stores its conversation like the page: a follow-up asks about the stored media."""

from __future__ import annotations

import json

from services.conversations import vision as vconv
from services.conversations.store import open_store
from tests.fixtures.media_files import scene_video, text_image

TARGET = "ocr:smollm2-135m-instruct"


def test_a_question_is_stored_and_a_follow_up_asks_about_its_frames(embedded_paths, tmp_path, capsys, monkeypatch):
    from services.__main__ import main

    db = tmp_path / "playground.db"
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(db))
    img = tmp_path / "sign.png"
    img.write_bytes(text_image("STOP"))
    clip = scene_video(tmp_path / "clip.mp4")
    assert main(["vision", "What word is on the sign?", "--image", str(img), "--video", str(clip), "--frames", "2",
                 "--temperature", "0", "--max-tokens", "12", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    cid = first["conversation_id"]
    store = open_store(db)
    conv = store.get_conversation(cid)
    assert conv.kind == "vision" and conv.target == TARGET
    parts = vconv.media(store, cid)
    assert [p.label for p in parts][0] == "sign.png" and [p.timestamp_s for p in parts][1:] == [0.0, 5.9]
    assert vconv.turns(store, cid)[0].message.notice.startswith("clip.mp4: ")

    # the follow-up names no files: it is about the stored image and frames
    assert main(["vision", "And the video?", "--conversation", cid, "--temperature", "0", "--max-tokens", "12",
                 "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["conversation_id"] == cid and second["target"] == TARGET and second["text"]
    assert second["image_tokens_estimate"] == first["image_tokens_estimate"]
    assert [t.message.role for t in vconv.turns(store, cid)] == ["user", "assistant", "user", "assistant"]
    assert len(store.list_conversations()) == 1

    # new media on a follow-up is refused with a sentence; nothing is stored
    assert main(["vision", "This one?", "--conversation", cid, "--image", str(img)]) == 2  # a bad request
    assert "leave out --image and --video" in capsys.readouterr().err
    assert len(vconv.turns(store, cid)) == 4
