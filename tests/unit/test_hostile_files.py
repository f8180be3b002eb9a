"""Every field of a valid export and run file, replaced by each wrong type: one sentence naming it, nothing stored.

A property-style sweep: the valid files are walked field by field; each field is replaced by every value in
WRONG (and removed, and given an extra sibling). A replacement of another JSON type must be refused with
BadRequest naming the field's path; any refusal stores nothing; anything accepted must import cleanly.
"""

import base64
import copy
import json

import pytest

from services import json_input

from services.conversations import import_export as conversation_io

from services.compare import runfile
from services.compare.run import CompareSpec, ColumnResult
from services.errors import BadRequest, MediaError
from services.conversations.rows import NewMessage, TurnSettings
from services.conversations.store import Store
from services.types import GenerationParams, ImagePart, Metrics
from tests.fixtures.media_files import plain_image


def deep(levels: int):
    value = []
    for _ in range(levels):
        value = [value]
    return value


NAN, INF = float("nan"), float("inf")
WRONG = [[1, 2], {"a": 1}, "text", 7, 1.5, True, None, NAN, INF, -INF, 10**30, deep(40), ""]


def kind(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float" if v == v and abs(v) != INF else "nonfinite"
    return {str: "str", list: "list", dict: "dict", type(None): "null"}[type(v)]


# what may stand in a field whose valid value is of this kind (an int is a fine float)
COMPATIBLE = {"int": {"int"}, "float": {"float", "int"}, "str": {"str"}, "bool": {"bool"},
              "list": {"list"}, "dict": {"dict"}}


def fields(value, path=()):
    """Every (path, value) in a JSON document, containers included, the root left out."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield path + (k,), v
            yield from fields(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield path + (i,), v
            yield from fields(v, path + (i,))


def replaced(doc, path, new):
    out = copy.deepcopy(doc)
    node = out
    for p in path[:-1]:
        node = node[p]
    if new is REMOVE:
        del node[path[-1]]
    else:
        node[path[-1]] = new
    return out


REMOVE = object()


def must_refuse(original, new, path=()) -> bool:
    """A value of another JSON type (or not finite, or over every bound) in a place that had a value."""
    if original is None or new is None or new is REMOVE:
        return False
    if "server" in path and kind(original) in ("int", "float") and kind(new) in ("int", "float", "str", "bool"):
        # a server's figures are numbers, whole or not (eval_count, eval_s), a short text (answered_by) or a
        # flag (default_building); a number past every bound is still refused
        return kind(new) == "int" and abs(new) > json_input.MAX_JSON_NUMBER
    if kind(new) == "nonfinite" or (kind(new) == "int" and abs(new) > json_input.MAX_JSON_NUMBER):
        return kind(original) in ("int", "float") or kind(new) not in COMPATIBLE.get(kind(original), ())
    return kind(new) not in COMPATIBLE[kind(original)]


def cases(doc, skip=()):
    for path, original in fields(doc):
        if any(str(p) in skip for p in path):
            continue
        for new in WRONG:
            yield path, original, new
        yield path, original, REMOVE
    for path, original in [((), doc), *fields(doc)]:
        # a server's figures are an open set of names (every other object is closed)
        if isinstance(original, dict) and path[-1:] != ("server",):
            yield path + ("zz_extra",), None, 1


def sweep(doc, load, stored, skip=()):
    """Run every case; return how many were refused (and check each refusal)."""
    refused = 0
    for path, original, new in cases(doc, skip):
        text = json.dumps(replaced(doc, path, new) if path else doc)
        before = stored()
        try:
            load(text)
        except (BadRequest, MediaError) as exc:
            refused += 1
            message = exc.user_message()
            assert "Traceback" not in message and message.count(".") <= 6, message
            assert stored() == before, f"{path}: a refused file stored something"
            if path[-1] == "zz_extra":
                assert "unknown field 'zz_extra'" in message or "has a key that is not" in message, (path, message)
            elif new is not REMOVE and must_refuse(original, new, path):
                assert json_input.where(path) in message or "schema_version" in message or \
                    "format" in message, (path, new, message)
            continue
        assert not must_refuse(original, new, path), f"{json_input.where(path)} = {new!r} was accepted"
        assert path[-1] != "zz_extra", f"an extra field at {json_input.where(path[:-1])} was accepted"
    return refused


@pytest.fixture
def export(tmp_path):
    store = Store(tmp_path / "src.db")
    png = plain_image(size=(8, 8))
    conv = store.create_conversation(settings=TurnSettings("onnx:smollm2-135m-instruct",
                                                           GenerationParams(stop=("END",)), "Be brief."))
    q = store.add_message(conv, NewMessage("user", "What is this?",
                                           images=(ImagePart(png, "image/png", "a.png", 1.5),)))
    store.add_message(conv, NewMessage("assistant", "A square.", target="onnx:smollm2-135m-instruct",
                                       params=GenerationParams(seed=3, stop=("x", "y")), finish_reason="stop",
                                       metrics=Metrics(0.1, 20.5, 5, 3, 0.4, 0.0, 100.0, {"prompt_cache_tokens": 2})),
                      parent_id=q)
    data = conversation_io.export_json(store, conv)
    store.close()
    return data


def test_every_field_of_an_export_with_every_wrong_type(export, tmp_path):
    target = Store(tmp_path / "dst.db")

    def stored():
        return len(target.list_conversations()), target.count_attachments()

    refused = sweep(export, lambda text: conversation_io.import_json(target, text), stored)
    # the sweep really exercised refusals: most replacements are of another type
    assert refused > 300, refused
    target.close()


def run_file() -> dict:
    png = ImagePart(plain_image(size=(8, 8)), "image/png", "a.png", 0.5)
    params = [GenerationParams(seed=1, stop=("x",)), GenerationParams(top_k=5)]
    spec = CompareSpec.build("Which colour?", ["openai:a", "openai:b"], params, system="Be brief.", images=[png])
    results = [ColumnResult(0, "openai:a", params[0], "done", "Red.", Metrics(0.1, 10.0, 4, 2, 0.3).to_dict(),
                            "stop", local=False, notices=("note",)),
               ColumnResult(1, "openai:b", params[1], "error", "", {}, None, "The key was refused.", "AuthFailed")]
    return runfile.build_run(spec, results, wall_s=1.2, run_id="r1",
                             votes=[{"target_a": "openai:a", "target_b": "openai:b", "outcome": "a"}])


def test_every_field_of_a_run_file_with_every_wrong_type():
    def load(text):
        runfile.spec_from_run(runfile.loads(text))

    # the base64 payload and its hash are checked by content (MediaError naming media[0]), not by type
    refused = sweep(run_file(), load, lambda: 0)
    assert refused > 200, refused


@pytest.mark.parametrize("text, place", [
    ('{"format": "phi-playground/compare-run", "version": 1, "prompt": "x", "targets": [{"target": NaN}]}',
     "targets[0].target must be text"),
    ('{"format": "phi-playground/compare-run", "version": 1, "prompt": "x", "targets": [{"target": "a:b", '
     '"params": {"stop": 3}}]}', "targets[0].params.stop must be a list of strings"),
    ('{"format": "phi-playground/compare-run", "version": 1, "prompt": "x", "targets": [{"target": "a:b"}], '
     '"results": [{"target": "a:b", "metrics": {"ttft_s": "fast"}}]}', "results[0].metrics.ttft_s must be"),
    ('{"format": "phi-playground/compare-run", "version": 1, "prompt": "x", "targets": [{"target": "a:b", '
     '"params": {"max_tokens": true}}]}', "targets[0].params.max_tokens must be a whole number"),
    ('{"format": "phi-playground/compare-run", "version": 1, "prompt": "x", "targets": [{"target": "a:b", '
     '"params": {"top_k": 1e999}}]}', "targets[0].params.top_k must be a whole number"),
    ("[" * 100_000 + "]" * 100_000, "nested deeper than 16 levels"),
    ('{"a": ' * 30 + "1" + "}" * 30, "nested deeper than 16 levels"),
    ('{"n": ' + "9" * 5000 + "}", "a number too long to read"),
    ("[" + "0," * json_input.MAX_JSON_VALUES + "0]", "more than 2,000,000 values"),
])
def test_hostile_run_files_get_one_sentence(text, place):
    with pytest.raises(BadRequest) as info:
        runfile.loads(text)
    assert place in info.value.user_message()


def test_an_export_over_the_message_cap_is_refused_and_stores_nothing(export, tmp_path):
    target = Store(tmp_path / "dst.db")
    data = copy.deepcopy(export)
    data["attachments"] = {}
    data["messages"] = [{"role": "user", "content": "hi"}] * (conversation_io.MAX_IMPORT_MESSAGES + 1)
    with pytest.raises(BadRequest, match="messages has more than 10,000 items"):
        conversation_io.import_json(target, json.dumps(data))
    data["messages"] = [{"role": "user", "content": "x" * (conversation_io.MAX_IMPORT_MESSAGE_CHARS + 1)}]
    with pytest.raises(BadRequest, match=r"messages\[0\].content is longer than 500,000 characters"):
        conversation_io.import_json(target, json.dumps(data))
    with pytest.raises(BadRequest, match="larger than 200 MB"):
        conversation_io.import_json(target, b" " * (conversation_io.MAX_IMPORT_BYTES + 1))
    assert target.list_conversations() == [] and target.count_attachments() == 0
    target.close()


def test_a_valid_export_still_round_trips(export, tmp_path):
    target = Store(tmp_path / "dst.db")
    conv = conversation_io.import_json(target, json.dumps(export))
    again = conversation_io.export_json(target, conv)
    assert [m["content"] for m in again["messages"]] == ["What is this?", "A square."]
    assert base64.b64decode(next(iter(again["attachments"].values()))["data_base64"])
    target.close()
