"""AppTest: the chat page's stored conversations: resume, restart, delete (asked first), regenerate, edit, import, faults."""

import io
import sqlite3

import pytest
from streamlit.testing.v1 import AppTest

from services.conversations.import_export import export_json_text
from services.conversations.rows import NewMessage, TurnSettings
from services.conversations.store import SCHEMA_VERSION, open_store
from services.types import GenerationParams, Metrics
from tests.conftest import ROOT
from tests.readable import readable
from tests.unit.test_safe_markdown import assert_inert

pytestmark = pytest.mark.integration
TARGET = "onnx:smollm2-135m-instruct"


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "page.db"
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(path))
    return path


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)


def seeded(store) -> str:
    params = GenerationParams(temperature=0.0, top_p=0.5, top_k=7, max_tokens=33, repetition_penalty=1.1, seed=5,
                              stop=("END",))
    c = store.create_conversation(settings=TurnSettings(TARGET, params, "Answer in one word."))
    store.add_message(c, NewMessage("user", "Which city is the capital of France?"))
    store.add_message(c, NewMessage("assistant", "Paris <script>x</script>", target=TARGET, finish_reason="stop",
                                    metrics=Metrics(ttft_s=0.1, decode_tokens_per_s=50.0, prompt_tokens=9,
                                                    completion_tokens=3, total_s=0.2, load_s=0.0)))
    store.add_message(c, NewMessage("user", "And Italy?"))
    store.add_message(c, NewMessage("assistant", "Ro", finish_reason="incomplete"))
    return c


def texts(at) -> list[tuple[str, str]]:
    return [(m.name, readable(m.markdown[0].value) if m.markdown else "") for m in at.chat_message]


def test_resume_shows_messages_and_restores_the_system_prompt(db, embedded_paths):
    store = open_store()
    c = seeded(store)
    other = store.create_conversation("Empty one")
    at = app().run()
    assert not at.exception and texts(at) == []
    labels = [readable(b.label) for b in at.sidebar.button if b.key and b.key.startswith("chat_open_")]
    assert labels == ["Empty one", "Which city is the capital of France?"]
    at.button(key=f"chat_open_{c}").click().run()
    assert not at.exception
    got = texts(at)
    assert [r for r, _ in got] == ["user", "assistant", "user", "assistant"]
    assert got[0][1] == "Which city is the capital of France?"
    assert "Paris" in got[1][1] and "<script>" in got[1][1]  # shown as text a person reads
    assert_inert(at.chat_message[1].markdown[0].value)  # rendered through sanitize: no tag for the browser
    assert any("incomplete" in w.value for w in at.chat_message[3].warning)
    assert any("tok/s" in readable(cap.value) for cap in at.chat_message[1].caption)
    # Copy: the raw answer in a code block (shown as text, with a copy button)
    assert at.chat_message[1].code[0].value == "Paris <script>x</script>"
    assert at.text_area(key="chat_system").value == "Answer in one word."
    assert at.number_input(key="chat_max_tokens").value == 33 and at.slider(key="chat_top_p").value == 0.5
    assert at.text_input(key="chat_seed").value == "5" and at.text_input(key="chat_stop_strings").value == "END"
    assert at.selectbox(key="chat_target").value == TARGET
    assert at.query_params["c"] == [c] or at.query_params["c"] == c
    at.button(key=f"chat_open_{other}").click().run()
    assert texts(at) == []


def test_conversation_survives_a_restart(db, embedded_paths):
    c = seeded(open_store())
    at = app()
    at.query_params["c"] = c  # a browser refresh keeps the URL, nothing else
    at.run()
    assert not at.exception
    assert len(at.chat_message) == 4
    assert at.text_area(key="chat_system").value == "Answer in one word."
    assert at.number_input(key="chat_max_tokens").value == 33


def test_delete_asks_first(db, embedded_paths):
    store = open_store()
    c = seeded(store)
    at = app().run()
    at.button(key=f"chat_open_{c}").click().run()
    at.button(key="chat_delete").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    assert store.get_conversation(c) is not None  # nothing deleted yet
    at.button(key="chat_delete_no").click().run()
    assert store.get_conversation(c) is not None and len(at.chat_message) == 4
    at.button(key="chat_delete").click().run()
    at.button(key="chat_delete_yes").click().run()
    assert not at.exception
    assert store.get_conversation(c) is None and len(at.chat_message) == 0
    assert not [b for b in at.sidebar.button if b.key and b.key.startswith("chat_open_")]


def test_rename_and_search(db, embedded_paths):
    store = open_store()
    c = seeded(store)
    store.add_message(store.create_conversation(), NewMessage("user", "pancake recipe"))
    at = app().run()
    at.button(key=f"chat_open_{c}").click().run()
    at.text_input(key=f"chat_title_{c}").set_value("Capitals").run()
    at.button(key="chat_rename").click().run()
    assert store.get_conversation(c).title == "Capitals"
    at.text_input(key="chat_search").set_value("italy").run()
    assert [b.label for b in at.sidebar.button if b.key.startswith("chat_open_")] == ["Capitals"]
    at.text_input(key="chat_search").set_value("nothing-like-this").run()
    assert any("No conversation matches" in x.value for x in at.sidebar.caption)


def test_page_answers_stores_regenerates_and_edits(db, embedded_paths):
    at = app().run()
    at.slider(key="chat_temperature").set_value(0.0)
    at.number_input(key="chat_max_tokens").set_value(8)
    at.chat_input(key="chat_input").set_value("What is the capital of France?").run()
    assert not at.exception
    store = open_store()
    (conv,) = store.list_conversations()
    assert [m.role for m in store.messages(conv.id)] == ["user", "assistant"]
    first = texts(at)[1][1]

    at.button(key="chat_regenerate").click().run()
    assert not at.exception
    answers = [m for m in store.messages(conv.id) if m.role == "assistant"]
    assert len(answers) == 2 and answers[0].parent_id == answers[1].parent_id
    assert any("version 2 / 2" in c.value for c in at.caption)
    prev = [b for b in at.button if b.key and b.key.startswith("chat_prev_")][0]
    prev.click().run()
    assert any("version 1 / 2" in c.value for c in at.caption) and texts(at)[1][1] == first

    user_id = store.messages(conv.id)[0].id
    at.button(key=f"chat_edit_{user_id}").click().run()
    at.text_area(key=f"chat_edit_text_{user_id}").set_value("What is the capital of Italy?")
    at.button(key=f"FormSubmitter:chat_edit_form_{user_id}-Send as a new branch").click().run()
    assert not at.exception
    shown = texts(at)
    assert shown[0] == ("user", "What is the capital of Italy?") and len(shown) == 2
    users = [m for m in store.messages(conv.id) if m.role == "user"]
    assert [u.content for u in users] == ["What is the capital of France?", "What is the capital of Italy?"]
    assert len([m for m in store.messages(conv.id) if m.role == "assistant"]) == 3


def test_import_from_the_page(db, tmp_path, embedded_paths):
    source = open_store(tmp_path / "elsewhere.db")
    data = export_json_text(source, seeded(source)).encode()
    at = app().run()
    at.file_uploader(key="chat_import").upload("conv.json", data, "application/json").run()
    assert not at.exception
    assert len(open_store().list_conversations()) == 1 and len(at.chat_message) == 4
    at.file_uploader(key="chat_import").upload("bad.json", b'{"format": "x"}', "application/json").run()
    assert any("not a Phi Playground conversation export" in e.value for e in at.error)
    assert len(open_store().list_conversations()) == 1


def test_corrupt_database_still_starts(db, embedded_paths):
    db.write_bytes(b"garbage, not sqlite" * 100)
    at = app().run()
    assert not at.exception
    assert any("fresh database" in w.value for w in at.warning)
    kept = [p for p in db.parent.iterdir() if ".corrupt-" in p.name]
    assert kept and kept[0].read_bytes() == b"garbage, not sqlite" * 100


def test_newer_database_is_left_alone(db, embedded_paths):
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    at = app().run()
    assert not at.exception
    assert any("newer version" in e.value for e in at.error)
    assert any("memory only" in w.value for w in at.warning)
    assert db.read_bytes() == before


def test_imported_titles_and_labels_cannot_load_remote_images(db, embedded_paths):
    from services.conversations.import_export import import_json
    from services.types import ImagePart

    source = open_store(db.parent / "src.db")
    c = source.create_conversation("![x](https://attacker.test/t.png) <img src=x onerror=alert(1)>")
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 255)).save(buf, "PNG")
    png = buf.getvalue()
    label = "![y](https://attacker.test/l.png)"
    source.add_message(c, NewMessage("user", "look", images=(ImagePart(png, "image/png", label),)))
    new_id = import_json(open_store(), export_json_text(source, c))
    at = app()
    at.query_params["c"] = new_id
    at.run()
    assert not at.exception
    (label,) = [b.label for b in at.sidebar.button if b.key.startswith("chat_open_")]
    # the label reads as the title, and markdown finds no image or tag in it
    assert_inert(label)
    assert readable(label) == "![x](https://attacker.test/t.png) <img src=x onerror=alert(1)>"


def test_a_long_conversation_opens_on_its_latest_messages_and_pages_back(db, embedded_paths):
    from ui.conversation_list import PAGE_MESSAGES

    store = open_store()
    c = store.create_conversation("long")
    for n in range(2 * PAGE_MESSAGES + 10):
        store.add_message(c, NewMessage("user" if n % 2 == 0 else "assistant", f"message {n}"))
    at = app().run()
    at.button(key=f"chat_open_{c}").click().run()
    assert not at.exception
    shown = [t for _, t in texts(at)]
    assert len(shown) == PAGE_MESSAGES and shown[-1] == f"message {2 * PAGE_MESSAGES + 9}"
    at.button(key="chat_earlier").click().run()
    assert len(texts(at)) == 2 * PAGE_MESSAGES
    at.button(key="chat_earlier").click().run()
    assert texts(at)[0][1] == "message 0" and not [b for b in at.button if b.key == "chat_earlier"]
