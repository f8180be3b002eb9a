"""Stored conversations with the embedded model: regenerate, edit, stop, a killed answer, the CLI round trip."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from services.conversations import branches as convs
from services.__main__ import main
from services.conversations.rows import TurnSettings
from services.conversations.store import Store, open_store
from services.types import GenerationParams
from tests.conftest import ROOT

pytestmark = pytest.mark.integration
TARGET = "onnx:smollm2-135m-instruct"


@pytest.fixture
def params():
    return GenerationParams(temperature=0, max_tokens=8)


@pytest.fixture
def settings(params):
    return TurnSettings(TARGET, params)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "conv.db")
    yield s
    s.close()


def test_answer_is_stored_with_metrics(store, params, embedded_paths):
    reply = convs.send(store, None, "What is the capital of France?", TurnSettings(TARGET, params, "Be brief."))
    reply.text()
    turns = convs.path(store, reply.conv_id)
    assert [t.message.role for t in turns] == ["user", "assistant"]
    answer = turns[1].message
    assert answer.content == reply.outcome.text and answer.content.strip()
    assert answer.finish_reason in ("stop", "length")
    assert answer.metrics.completion_tokens > 0 and answer.target == TARGET
    assert answer.params.max_tokens == 8 and answer.metrics == reply.outcome.metrics
    conv = store.get_conversation(reply.conv_id)
    assert conv.title == "What is the capital of France?" and conv.system == "Be brief." and conv.params == params


def test_regenerate_keeps_both_answers(store, settings, embedded_paths):
    first = convs.send(store, None, "Name a colour.", settings)
    first.text()
    second = convs.regenerate(store, first.conv_id,
                              TurnSettings(TARGET, GenerationParams(temperature=1.0, seed=7, max_tokens=8)))
    second.text()
    answers = [m for m in store.messages(first.conv_id) if m.role == "assistant"]
    assert [a.id for a in answers] == [first.message_id, second.message_id]
    assert answers[0].parent_id == answers[1].parent_id
    last = convs.path(store, first.conv_id)[-1]
    assert last.message.id == second.message_id and last.index == 1 and len(last.siblings) == 2
    convs.switch_to(store, first.conv_id, first.message_id)
    assert convs.path(store, first.conv_id)[-1].message.content == first.outcome.text


def test_edit_branches_and_keeps_the_old_branch(store, settings, embedded_paths):
    r1 = convs.send(store, None, "What is 2 + 2?", settings)
    first = r1.text()
    r2 = convs.send(store, r1.conv_id, "And 3 + 3?", settings)
    second = r2.text()
    second_q = convs.path(store, r1.conv_id)[2].message
    r3 = convs.edit(store, r1.conv_id, second_q.id, "And 5 + 5?", settings)
    third = r3.text()
    visible = [t.message.content for t in convs.path(store, r1.conv_id)]
    assert visible[:2] == ["What is 2 + 2?", first] and visible[2] == "And 5 + 5?" and visible[3] == third
    # the model saw the new branch only
    sent = [m.content for m in r3.request.messages]
    assert "And 3 + 3?" not in sent and sent[-1] == "And 5 + 5?"
    # the old branch is still there and can be shown again
    convs.switch_to(store, r1.conv_id, second_q.id)
    assert [t.message.content for t in convs.path(store, r1.conv_id)][2:] == ["And 3 + 3?", second]


def test_stop_keeps_the_partial_answer_marked(store, embedded_paths):
    reply = convs.send(store, None, "Write a long story about a dragon.",
                       TurnSettings(TARGET, GenerationParams(temperature=0, max_tokens=200)))
    chunks = iter(reply)
    got = [next(chunks) for _ in range(3)]
    chunks.close()  # what a Stop click (a rerun) does to the page's loop
    stored = store.get_message(reply.message_id)
    assert stored.finish_reason == "cancelled" and stored.stopped_early
    assert stored.content == "".join(got) and stored.content
    assert stored.metrics.completion_tokens >= 3


KILLED = r"""
import sys
sys.path.insert(0, sys.argv[2])
from services.conversations import branches as convs
from services.conversations.rows import TurnSettings
from services.conversations.store import Store
from services.types import GenerationParams
s = Store(sys.argv[1])
reply = convs.send(s, None, "Write a very long story about a dragon and a knight.",
                   TurnSettings("onnx:smollm2-135m-instruct", GenerationParams(temperature=0, max_tokens=4000)))
print(reply.conv_id, reply.message_id, flush=True)
for piece in reply:
    pass
"""


def test_killed_mid_answer_leaves_partial_marked_incomplete(tmp_path, embedded_paths):
    path = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(path), str(ROOT)], stdout=subprocess.PIPE, text=True)
    conv_id, msg_id = proc.stdout.readline().split()
    watcher = Store(path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(watcher.get_message(int(msg_id)).content) < 40:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    watcher.close()
    s = Store(path)
    assert s.integrity_check() == "ok"
    turns = convs.path(s, conv_id)
    assert turns[0].message.content.startswith("Write a very long story")
    assert turns[1].message.finish_reason == "incomplete" and len(turns[1].message.content) >= 40
    s.close()


def cli(capsys, *argv) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_cli_round_trip_to_another_machine(tmp_path, monkeypatch, capsys, embedded_paths):
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(tmp_path / "here.db"))
    first = json.loads(cli(capsys, "chat", "What is the capital of France?", "--max-tokens", "8",
                           "--temperature", "0", "--json"))
    assert {"target", "text", "finish_reason", "metrics", "conversation_id"} <= set(first)
    cid = first["conversation_id"]
    again = json.loads(cli(capsys, "chat", "And of Italy?", "--conversation", cid, "--json"))
    assert again["conversation_id"] == cid
    listed = json.loads(cli(capsys, "conversations", "--json"))["conversations"]
    assert listed[0]["id"] == cid and listed[0]["n_messages"] == 4
    assert cid in cli(capsys, "conversations", "--search", "Italy")
    exported = cli(capsys, "export", cid, "--format", "json")
    md = cli(capsys, "export", cid, "--format", "md")
    assert "## 🧑 User" in md and "And of Italy?" in md
    (tmp_path / "conv.json").write_text(exported)

    # another machine: another database file
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(tmp_path / "there.db"))
    new_id = cli(capsys, "import", str(tmp_path / "conv.json")).strip()
    assert new_id and new_id != cid
    cont = json.loads(cli(capsys, "chat", "And of Spain?", "--conversation", new_id, "--json"))
    assert cont["conversation_id"] == new_id
    there = open_store()
    turns = convs.path(there, new_id)
    assert [t.message.content for t in turns[:4]] == [
        t.message.content for t in convs.path(open_store(tmp_path / "here.db"), cid)]
    assert turns[4].message.content == "And of Spain?" and turns[5].message.role == "assistant"
    # the continued turn kept the stored parameters (max_tokens 8, greedy)
    assert turns[5].message.params.max_tokens == 8 and turns[5].message.params.temperature == 0


def test_cli_import_refuses_a_bad_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(tmp_path / "x.db"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}')
    assert main(["import", str(bad)]) == 2
    assert "not a Phi Playground conversation export" in capsys.readouterr().err
    assert open_store().list_conversations() == []
    assert main(["export", "nope"]) == 2
    assert "No conversation 'nope'" in capsys.readouterr().err


def test_cli_does_what_the_page_does(tmp_path, monkeypatch, capsys, embedded_paths):
    monkeypatch.setenv("PHI_PLAYGROUND_DB", str(tmp_path / "cli.db"))
    cid = json.loads(cli(capsys, "chat", "Name a fruit.", "--max-tokens", "8", "--temperature", "0",
                         "--json"))["conversation_id"]
    cli(capsys, "chat", "--conversation", cid, "--regenerate", "--temperature", "1", "--seed", "3", "--json")
    shown = json.loads(cli(capsys, "conversations", "show", cid, "--json"))["messages"]
    assert [m["role"] for m in shown] == ["user", "assistant"] and shown[1]["index"] == 1
    first_answer, question = shown[1]["siblings"][0], shown[0]["id"]
    cli(capsys, "chat", "Name a vegetable.", "--conversation", cid, "--edit", str(question), "--json")
    shown = json.loads(cli(capsys, "conversations", "show", cid, "--json"))["messages"]
    assert shown[0]["content"] == "Name a vegetable." and len(shown[0]["siblings"]) == 2
    cli(capsys, "conversations", "switch", cid, str(first_answer))
    shown = json.loads(cli(capsys, "conversations", "show", cid, "--json"))["messages"]
    assert shown[0]["content"] == "Name a fruit." and shown[1]["id"] == first_answer
    assert "version 1/2" in cli(capsys, "conversations", "show", cid)
    cli(capsys, "conversations", "rename", cid, "Food")
    assert "Food" in cli(capsys, "conversations")
    assert main(["conversations", "delete", cid]) == 2
    assert "--yes" in capsys.readouterr().err
    assert open_store().get_conversation(cid) is not None
    cli(capsys, "conversations", "delete", cid, "--yes")
    assert open_store().get_conversation(cid) is None
    assert main(["chat", "--regenerate"]) == 2
    assert "need --conversation" in capsys.readouterr().err


def test_a_failed_start_keeps_the_question_and_says_why(store, params):
    from services.errors import PlaygroundError

    with pytest.raises(PlaygroundError) as info:
        convs.send(store, None, "Hello there", TurnSettings("onnx:no-such-model", params))
    (conv,) = store.list_conversations()
    (question,) = store.messages(conv.id)
    assert question.content == "Hello there" and question.error == info.value.user_message()
    # Regenerate (with a working target) answers that same question
    assert convs.last_question(store, conv.id) == question.id
