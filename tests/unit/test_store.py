"""The SQLite store: schema, runs and votes, branching messages, attachments, search, faults."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from services.errors import BadRequest
from services.conversations.rows import Conversation, NewMessage, StoredMessage
from services.conversations.store import SCHEMA_VERSION, Store, StoreError, default_path, open_store
from services.types import ImagePart
from tests.conftest import ROOT

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "t.db")
    yield s
    s.close()


def test_location_env_vars(monkeypatch, tmp_path):
    monkeypatch.setenv("PHI_PLAYGROUND_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("PHI_PLAYGROUND_DB", raising=False)
    assert default_path() == tmp_path / "data" / "playground.db"
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(tmp_path / "x.db"))
    assert default_path() == tmp_path / "x.db"
    s = open_store()
    assert s.path == tmp_path / "x.db" and open_store() is s
    s.close()


def test_pragmas_and_schema(store):
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store._read("PRAGMA foreign_keys")[0][0] == 1
    conn.close()


def test_runs_and_votes(store):
    a = store.save_run("compare", {"prompt": "hi", "targets": ["x", "y"]})
    b = store.save_run("compare", {"prompt": "two"})
    store.save_run("reasoning", {"k": 3})
    assert store.get_run(a)["payload"] == {"prompt": "hi", "targets": ["x", "y"]}
    assert store.get_run("nope") is None
    runs = store.list_runs("compare")
    assert [r["id"] for r in runs] == [b, a]
    assert set(runs[0]) == {"id", "kind", "created", "payload"}
    assert len(store.list_runs("compare", limit=1)) == 1
    v1 = store.add_vote(a, "onnx:m", "transformers:m", "a")
    v2 = store.add_vote(None, "onnx:m", "transformers:m", "both_bad")
    with pytest.raises(BadRequest, match="a, b, tie, both_bad"):
        store.add_vote(a, "x", "y", "draw")
    votes = store.list_votes()
    assert [v["id"] for v in votes] == [v1, v2]
    assert votes[1]["run_id"] is None and votes[0]["outcome"] == "a"
    assert set(votes[0]) == {"id", "run_id", "target_a", "target_b", "outcome", "created"}


def test_title_from_first_prompt_rename_and_order(store):
    c1 = store.create_conversation()
    store.add_message(c1, NewMessage("user", "  What is   the capital of France?  "))
    c2 = store.create_conversation()
    store.add_message(c2, NewMessage("user", "second"))
    assert store.get_conversation(c1).title == "What is the capital of France?"
    assert [c.id for c in store.list_conversations()] == [c2, c1]
    store.rename_conversation(c1, "Geography")
    assert store.get_conversation(c1).title == "Geography"
    assert [c.id for c in store.list_conversations()] == [c1, c2]
    with pytest.raises(BadRequest, match="empty"):
        store.rename_conversation(c1, "  ")


def test_attachments_stored_once_and_collected(store):
    c1, c2 = store.create_conversation(), store.create_conversation()
    img = ImagePart(PNG, "image/png", "photo.png")
    for c in (c1, c2, c1):
        store.add_message(c, NewMessage("user", "look", images=(img, img)))
    assert store.count_attachments() == 1
    msg = store.messages(c1)[0]
    assert [a.label for a in msg.attachments] == ["photo.png", "photo.png"]
    assert store.attachment(msg.attachments[0].sha256) == PNG
    store.delete_conversation(c1)
    assert store.count_attachments() == 1  # still used by c2
    store.delete_conversation(c2)
    assert store.count_attachments() == 0
    assert store.list_conversations() == []


def test_branches_keep_every_message(store):
    c = store.create_conversation()
    u = store.add_message(c, NewMessage("user", "q"))
    a1 = store.add_message(c, NewMessage("assistant", "first"))
    a2 = store.add_message(c, NewMessage("assistant", "second"), parent_id=u)
    assert {m.parent_id for m in store.messages(c) if m.role == "assistant"} == {u}
    assert store.get_conversation(c).active_leaf == a2
    other = store.create_conversation()
    with pytest.raises(BadRequest, match="not part of"):
        store.add_message(other, NewMessage("assistant", "x"), parent_id=a1)


@pytest.mark.parametrize("fts", [True, False])
def test_search(tmp_path, fts):
    s = Store(tmp_path / "s.db", fts=fts)
    assert s.fts is fts
    c1, c2 = s.create_conversation(), s.create_conversation()
    s.add_message(c1, NewMessage("user", "Tell me about Paris in spring"))
    s.add_message(c2, NewMessage("user", "Recipe for pancakes"))
    a = s.add_message(c2, NewMessage("assistant", ""))
    s.update_message(a, content="Mix 100% flour_and eggs")
    assert [c.id for c in s.search("paris")] == [c1]
    assert [c.id for c in s.search("flour")] == [c2]
    assert [c.id for c in s.search("pancakes")] == [c2]
    assert s.search("paris pancakes") == []
    assert s.search('"unbalanced AND (') == []  # query syntax is taken literally
    s.rename_conversation(c1, "Trip notes")
    assert [c.id for c in s.search("trip")] == [c1]
    s.delete_conversation(c1)
    assert s.search("paris") == []
    s.close()


def test_newer_schema_left_untouched(tmp_path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE x(y)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with pytest.raises(StoreError, match="newer version") as info:
        Store(path)
    assert "untouched" in info.value.user_message()
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["future.db"]


def test_corrupt_file_is_kept_and_a_fresh_one_opens(tmp_path):
    path = tmp_path / "playground.db"
    junk = b"this is not sqlite at all\n" * 200
    path.write_bytes(junk)
    s = Store(path)
    assert "fresh database" in s.notice
    kept = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(kept) == 1 and kept[0].read_bytes() == junk
    c = s.create_conversation()
    s.add_message(c, NewMessage("user", "still works"))
    assert s.integrity_check() == "ok"
    s.close()
    again = Store(path)  # the fresh file is the one used from now on
    assert again.notice == "" and len(again.list_conversations()) == 1
    again.close()


def test_damaged_pages_are_detected(tmp_path):
    path = tmp_path / "p.db"
    s = Store(path)
    c = s.create_conversation()
    for i in range(300):
        s.add_message(c, NewMessage("user", f"message {i} " + "x" * 300))
    s._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[page * 3: page * 6] = b"\xde\xad\xbe\xef" * (page * 3 // 4)  # scribble over pages in the middle
    path.write_bytes(bytes(data))
    s = Store(path)
    assert "could not be read" in s.notice
    assert s.list_conversations() == []
    assert any(".corrupt-" in p.name for p in tmp_path.iterdir())
    s.close()


def test_threads_lose_no_message(tmp_path):
    s = Store(tmp_path / "threads.db")
    c = s.create_conversation()
    errors = []

    def writer(n):
        try:
            for i in range(40):
                mid = s.add_message(c, NewMessage("assistant", ""), make_active=False)
                s.update_message(mid, content=f"t{n}-{i}", finish_reason="stop")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    contents = {m.content for m in s.messages(c)}
    assert contents == {f"t{n}-{i}" for n in range(8) for i in range(40)}
    assert s.integrity_check() == "ok"
    s.close()
    # a second connection (another process would do the same) sees everything
    other = Store(tmp_path / "threads.db")
    assert len(other.messages(c)) == 320
    other.close()


WRITER = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from services.conversations.rows import NewMessage
from services.conversations.store import Store, INCOMPLETE
s = Store(sys.argv[1])
c = s.create_conversation()
print(c, flush=True)
for i in range(100000):
    s.add_message(c, NewMessage("user", f"question {i}"))
    a = s.add_message(c, NewMessage("assistant", "", finish_reason=INCOMPLETE))
    text = ""
    for k in range(20):
        text += f"tok{k} "
        s.update_message(a, content=text)
    s.update_message(a, finish_reason="stop")
    if i == 3:
        print("going", flush=True)
"""


def test_sigkill_mid_write_leaves_a_sound_database(tmp_path):
    path = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(ROOT)], stdout=subprocess.PIPE, text=True)
    conv_id = proc.stdout.readline().strip()
    assert proc.stdout.readline().strip() == "going"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    s = Store(path)
    assert s.notice == ""
    assert s.integrity_check() == "ok"
    msgs = s.messages(conv_id)
    assert len(msgs) > 8
    answers = [m for m in msgs if m.role == "assistant"]
    # every finished answer is whole; at most the last one is partial, and it says so
    assert all(m.content.count("tok") == 20 for m in answers if m.finish_reason == "stop")
    assert all(m.finish_reason == "incomplete" for m in answers if m.content.count("tok") < 20)
    assert [m.role for m in msgs[:2]] == ["user", "assistant"]
    s.close()


def test_forward_migration_keeps_data(tmp_path, monkeypatch):
    import services.conversations.store as store_module

    path = tmp_path / "old.db"
    s = Store(path)
    c = s.create_conversation("kept")
    s.add_message(c, NewMessage("user", "hello"))
    s.close()
    # a future release adds a step; opening the old file runs it once and keeps every row
    steps = {**store_module.MIGRATIONS, SCHEMA_VERSION + 1: ["ALTER TABLE conversations ADD COLUMN pinned INTEGER DEFAULT 0"]}
    monkeypatch.setattr(store_module, "MIGRATIONS", steps)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    s = Store(path)
    assert s.schema_version() == SCHEMA_VERSION + 1
    # the new column is there with its default; the typed rows read the old columns as before
    assert s._read("SELECT pinned FROM conversations WHERE id = ?", (c,))[0][0] == 0
    assert s.get_conversation(c).title == "kept" and s.messages(c)[0].content == "hello"
    s.close()
    s = Store(path)  # nothing runs twice
    assert s.schema_version() == SCHEMA_VERSION + 1
    s.close()


def test_cli_names_a_newer_database_and_leaves_it(tmp_path, monkeypatch, capsys):
    from services.__main__ import main

    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(path))
    assert main(["conversations"]) == 1
    err = capsys.readouterr().err
    assert "newer version of Phi Playground" in err and "Traceback" not in err
    assert path.read_bytes() == before


@pytest.mark.parametrize("where", ["file_as_folder", "folder_as_file"])
def test_an_unusable_location_is_one_sentence(tmp_path, where):
    """A file where the folder should be, or a folder at the database's own path: StoreError, not OSError."""
    from services.conversations.store import Store, StoreError

    if where == "file_as_folder":
        (tmp_path / "taken").write_text("not a folder")
        path = tmp_path / "taken" / "playground.db"
    else:
        path = tmp_path / "playground.db"
        path.mkdir()
    with pytest.raises(StoreError) as err:
        Store(path)
    message = err.value.user_message()
    assert "PHI_PLAYGROUND_DB" in message and "Traceback" not in message


def test_rows_are_typed_and_settings_metrics_params_come_back_as_stored(store):
    from services.conversations.rows import TurnSettings
    from services.types import GenerationParams, Metrics

    params = GenerationParams(temperature=0, max_tokens=16, stop=("###",))
    c = store.create_conversation(settings=TurnSettings("onnx:m", params, "Be brief."))
    conv = store.get_conversation(c)
    assert isinstance(conv, Conversation) and (conv.target, conv.params, conv.system) == ("onnx:m", params, "Be brief.")
    assert conv.n_messages is None and store.list_conversations()[0].n_messages == 0
    q = store.add_message(c, NewMessage("user", "hi", notice="about a clip"))
    metrics = Metrics(ttft_s=0.1, decode_tokens_per_s=50.0, prompt_tokens=9, completion_tokens=3, total_s=0.2,
                      server={"eval_count": 3}, schema_valid=False, schema_error="not JSON")
    a = store.add_message(c, NewMessage("assistant", "", target="onnx:m", params=params, finish_reason="incomplete"))
    store.update_message(a, content="hello", metrics=metrics, finish_reason="stop")
    question, answer = store.messages(c)
    assert isinstance(answer, StoredMessage) and store.get_message(a) == answer
    assert (question.params, question.metrics, question.parent_id) == (None, None, None)
    assert question.notice == "about a clip"
    assert (answer.params, answer.metrics, answer.parent_id, answer.content) == (params, metrics, q, "hello")
    assert not answer.stopped_early and store.get_message(12345) is None
    other = TurnSettings("llamacpp:m", GenerationParams(seed=3))
    store.save_settings(c, other)
    assert (store.get_conversation(c).target, store.get_conversation(c).params, store.get_conversation(c).system) == (
        "llamacpp:m", GenerationParams(seed=3), "")
    store.set_active_leaf(c, q)
    assert store.get_conversation(c).active_leaf == q
    with pytest.raises(BadRequest, match="No conversation"):
        store.set_active_leaf("nope", None)


def test_a_new_message_is_checked_before_anything_is_written(store):
    from services.conversations.rows import TurnSettings

    with pytest.raises(BadRequest, match="role must be system, user or assistant"):
        NewMessage("wizard", "hi")
    with pytest.raises(BadRequest, match="content must be text"):
        NewMessage("user", None)
    with pytest.raises(BadRequest, match="parameters are not valid"):
        TurnSettings("onnx:m", None)
    assert TurnSettings("onnx:m", system=None).system == ""


def test_stored_parameters_this_version_cannot_read_come_back_as_none(store):
    c = store.create_conversation()
    a = store.add_message(c, NewMessage("assistant", "x"))
    # written by some other version: a field this one does not know
    with store._tx() as conn:
        conn.execute("UPDATE messages SET params = ? WHERE id = ?", ('{"temperature": 0, "mirostat": 2}', a))
        conn.execute("UPDATE conversations SET params = ? WHERE id = ?", ('{"top_p": 7}', c))
    assert store.get_message(a).params is None and store.get_conversation(c).params is None
