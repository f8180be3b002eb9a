"""Export and import of stored conversations: lossless round trip, Markdown, and refusing bad files."""

import base64
import copy
import hashlib
import io
import json

import pytest

from services.conversations.import_export import FORMAT, export_json, export_json_text, export_markdown, import_json
from services.conversations.branches import path, switch_to
from services.errors import BadRequest
from services.conversations.rows import NewMessage, TurnSettings
from services.conversations.store import Store
from services.types import GenerationParams, ImagePart, Metrics


def _image(fmt: str, colour) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (16, 12), colour).save(buf, fmt)
    return buf.getvalue()


PNG = _image("PNG", (200, 30, 30))
JPEG = _image("JPEG", (30, 200, 30))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "x.db")
    yield s
    s.close()


def branched(store) -> str:
    """A conversation with an image, a regenerated answer and an edited question."""
    params = GenerationParams(temperature=0, max_tokens=16, stop=("###",))
    c = store.create_conversation(settings=TurnSettings("onnx:smollm2-135m-instruct", params, "Be brief."))
    u1 = store.add_message(c, NewMessage("user", "What is in this picture? <b>",
                                         images=(ImagePart(PNG, "image/png", "a.png"),
                                                 ImagePart(JPEG, "image/jpeg", "b.jpg", 1.5))))
    metrics = Metrics(ttft_s=0.12, decode_tokens_per_s=88.5, prompt_tokens=30, completion_tokens=16, total_s=0.3,
                      load_s=0.0, peak_rss_mb=512.0)
    store.add_message(c, NewMessage("assistant", "A cat.", target="onnx:smollm2-135m-instruct", params=params,
                                    metrics=metrics, finish_reason="stop"))
    store.add_message(c, NewMessage("assistant", "A dog, maybe", target="transformers:smollm2-135m-instruct",
                                    params=params, metrics=metrics, finish_reason="incomplete", error="cut off"),
                      parent_id=u1)
    u2 = store.add_message(c, NewMessage("user", "And the colour?", images=(ImagePart(PNG, "image/png", "again.png"),)))
    store.add_message(c, NewMessage("assistant", "Brown.", finish_reason="length", metrics=metrics))
    # an edit of the second question: a sibling of u2, so "Brown." stays on the old branch
    store.add_message(c, NewMessage("user", "And the size?"), parent_id=store.get_message(u2).parent_id)
    return c


def strip(export: dict) -> dict:
    out = copy.deepcopy(export)
    out.pop("exported_at")
    return out


def test_round_trip_is_lossless(store, tmp_path):
    c = branched(store)
    first = export_json(store, c)
    assert first["format"] == FORMAT and first["schema_version"] == 1
    assert all({"role", "content"} <= set(m) for m in first["messages"])
    # "another machine": a different database file
    other = Store(tmp_path / "other.db")
    new_id = import_json(other, export_json_text(store, c).encode())
    assert new_id != c
    second = export_json(other, new_id)
    assert strip(second) == strip(first)
    msgs = other.messages(new_id)
    assert [other.attachment(a.sha256) for a in msgs[0].attachments] == [PNG, JPEG]
    assert other.count_attachments() == 2
    # the same file imported twice gives two conversations; nothing is overwritten
    again = import_json(other, json.dumps(first))
    assert again not in (new_id, c) and len(other.list_conversations()) == 2
    other.close()


def test_active_branch_comes_first(store):
    c = branched(store)
    data = export_json(store, c)
    active = [m for m in data["messages"] if m["active"]]
    assert data["messages"][: len(active)] == active
    assert [m["content"] for m in active] == ["What is in this picture? <b>", "A dog, maybe", "And the size?"]
    assert data["active"] == active[-1]["id"]


def test_markdown_lists_attachments(store):
    c = branched(store)
    md = export_markdown(store, c)
    assert md.startswith("# What is in this picture?")
    assert "a.png (image/png" in md and "b.jpg (image/jpeg" in md
    assert "> Be brief." in md and "version 2 of 2" in md
    assert "A dog, maybe" in md and "A cat." not in md  # alternatives live in the JSON export
    assert "on other branches" in md


def test_switching_branch_changes_the_visible_path(store):
    c = branched(store)
    first_answer = next(m for m in store.messages(c) if m.content == "A cat.")
    switch_to(store, c, first_answer.id)
    assert [t.message.content for t in path(store, c)] == ["What is in this picture? <b>", "A cat."]
    turns = path(store, c)
    assert turns[1].siblings and turns[1].index == 0 and len(turns[1].siblings) == 2


def corrupt(data, how):
    d = copy.deepcopy(data)
    how(d)
    return d



@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(format="something-else"), "not a Phi Playground conversation export"),
    (lambda d: d.update(schema_version=99), "newer Phi Playground"),
    (lambda d: d.pop("messages"), "the file needs the field messages"),
    (lambda d: d["messages"][1].update(role="wizard"), "messages\\[1\\].role must be one of"),
    (lambda d: d["messages"][0].update(content=None), "messages\\[0\\].content must be text"),
    (lambda d: d["messages"][1].update(parent=999), "messages\\[1\\].parent 999 is not an earlier message"),
    (lambda d: d["messages"][1].update(params={"temperature": -1}), "messages\\[1\\].params: temperature must be"),
    (lambda d: d["messages"][1].update(params={"bogus": 1}), "messages\\[1\\].params has an unknown field 'bogus'"),
    (lambda d: d["messages"][0]["attachments"][0].update(sha256="0" * 64), "messages\\[0\\].attachments\\[0\\] refers to bytes that are not in the file"),
    (lambda d: next(iter(d["attachments"].values())).update(data_base64="!!!"), "not valid base64"),
    (lambda d: next(iter(d["attachments"].values())).update(
        data_base64=base64.b64encode(b"MZ\x90\x00 evil").decode()), "do not match its sha256"),
    (lambda d: d.update(active=12345), "\"active\" does not name"),
])
def test_bad_files_write_nothing(store, tmp_path, mutate, message):
    data = export_json(store, branched(store))
    other = Store(tmp_path / "fresh.db")
    with pytest.raises(BadRequest, match=message) as info:
        import_json(other, json.dumps(corrupt(data, mutate)))
    assert "Nothing was imported" in info.value.user_message()
    assert other.list_conversations() == [] and other.count_attachments() == 0
    other.close()


@pytest.mark.parametrize("payload, mime, message", [
    (b"MZ\x90\x00 this is a program", "image/png", "not an image of type image/png"),
    (JPEG, "image/png", "not an image of type image/png"),  # the content decides, not the claim
    (PNG[:40], "image/png", "damaged"),  # a PNG header with its pixels cut off
])
def test_bad_attachment_is_refused(store, tmp_path, payload, mime, message):
    data = export_json(store, branched(store))
    sha = hashlib.sha256(payload).hexdigest()
    data["attachments"][sha] = {"mime": mime, "size": len(payload), "data_base64": base64.b64encode(payload).decode()}
    data["messages"][0]["attachments"][0]["sha256"] = sha
    other = Store(tmp_path / "o.db")
    with pytest.raises(BadRequest, match=message):
        import_json(other, json.dumps(data))
    assert other.list_conversations() == [] and other.count_attachments() == 0
    other.close()


@pytest.mark.parametrize("payload, message", [
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"{\"format\": ", "not JSON"),
    (b"[1, 2, 3]", "JSON list, not an object"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(), "not a Phi Playground"),
])
def test_foreign_files(store, payload, message):
    with pytest.raises(BadRequest, match=message):
        import_json(store, payload)
    assert store.list_conversations() == []


def test_minimal_file_in_our_format_imports(store):
    new_id = import_json(store, json.dumps({
        "format": FORMAT, "schema_version": 1, "conversation": {"title": "hand-made"},
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}))
    turns = [(t.message.role, t.message.content) for t in path(store, new_id)]
    assert turns == [("user", "hi"), ("assistant", "hello")]


def test_what_the_app_stores_re_imports(store, tmp_path):
    # the server figures a runtime reports beside numbers (which runtime answered while the default was
    # building) and a named, strict JSON schema: an export of them must import again, unchanged
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    for strict in (True, False, None):
        params = GenerationParams(temperature=0, response_format={"kind": "json_schema", "schema": schema,
                                                                  "name": "city", "strict": strict})
        c = store.create_conversation(settings=TurnSettings("onnx:smollm2-135m-instruct", params, ""))
        store.add_message(c, NewMessage("user", "Where is the Eiffel Tower?"))
        metrics = Metrics(ttft_s=0.1, completion_tokens=9,
                          server={"answered_by": "llamacpp:smollm2-135m-instruct", "default_building": True,
                                  "eval_count": 9})
        store.add_message(c, NewMessage("assistant", '{"city": "Paris"}', target="onnx:smollm2-135m-instruct",
                                        params=params, metrics=metrics, finish_reason="stop"))
        first = export_json(store, c)
        other = Store(tmp_path / f"other-{strict}.db")
        second = export_json(other, import_json(other, export_json_text(store, c).encode()))
        assert strip(second) == strip(first)
        back = other.messages(other.list_conversations()[0].id)[-1]
        assert back.metrics.server["answered_by"] == "llamacpp:smollm2-135m-instruct"
        assert back.params.response_format.name == "city" and back.params.response_format.strict == strict
        other.close()
