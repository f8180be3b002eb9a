"""The prompt-file YAML reader: scalars as written, typed fields by yaml.v3's rules, aliases counted as they
are resolved (nested anchors refused before anything is expanded), merges, duplicate keys, cycles; and
judge replies matched by whole words beside the reference's substring rule."""

from __future__ import annotations

import re
import tracemalloc

import pytest

from bench.bench_prompt_aliases import nested_anchors
from services.errors import BadRequest
from services.evaluate import promptfile
from services.evaluate import yaml_reader as yr
from services.evaluate.evaluator_spec import Choice
from services.evaluate.judges import SCALE, match_choice


def test_every_scalar_is_the_text_written_and_unquoted_ones_are_marked():
    data = yr.read("a: [yes, NO, 1.10, 2025-11-20, ~, '', 0x1F, 1_000, 'quoted', \"block\\n\"]\nb:\n")
    assert data == {"a": ["yes", "NO", "1.10", "2025-11-20", "~", "", "0x1F", "1_000", "quoted", "block\n"], "b": ""}
    assert [isinstance(v, yr.Plain) for v in data["a"]] == [True] * 5 + [False] + [True] * 2 + [False, False]


@pytest.mark.parametrize("text,value", [("100", 100), ("0x10", 16), ("0o17", 15), ("017", 15), ("0b101", 5),
                                        ("1_000", 1000), ("-7", -7), ("+3", 3), ("100.0", 100)])
def test_whole_number_fields_read_yaml_v3_integer_forms(text, value):
    assert yr.integer(yr.Plain(text), "x") == value


@pytest.mark.parametrize("text,value", [("0.5", 0.5), (".5", 0.5), ("1e3", 1000.0), ("1", 1), ("-.inf", float("-inf"))])
def test_number_fields_read_yaml_v3_float_forms(text, value):
    assert yr.number(yr.Plain(text), "x") == value


@pytest.mark.parametrize("bad", ["'100'", "ten", "1.5", "[1]"])
def test_a_whole_number_field_refuses_anything_else_with_one_sentence(bad):
    value = yr.read(f"v: {bad}")["v"]
    with pytest.raises(BadRequest, match="must be a whole number written without quotes"):
        yr.integer(value, "modelParameters.maxTokens")


def test_boolean_fields_take_yaml_1_1_words_as_yaml_v3_does_for_a_typed_boolean():
    assert [yr.boolean(yr.Plain(w), "x") for w in ("true", "yes", "On", "N", "FALSE", "off")] == [
        True, True, True, False, False, False]
    with pytest.raises(BadRequest, match="must be true or false"):
        yr.boolean("yes", "x")  # quoted: text, not a boolean


def test_json_trees_type_unquoted_scalars_as_yaml_v3_decodes_into_interface():
    tree = yr.read("s: {strict: true, n: 3, f: 1.10, d: 2025-11-20, y: yes, z: null, q: 'true'}")["s"]
    assert yr.as_json_tree(tree) == {"strict": True, "n": 3, "f": 1.1, "d": "2025-11-20", "y": "yes", "z": None,
                                     "q": "true"}


def test_merges_duplicates_and_non_text_keys():
    data = yr.read("base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\n")
    assert data["x"] == {"a": "1", "b": "3"}  # the map's own key wins over the merged one
    with pytest.raises(BadRequest, match=re.escape("line 3: the key 'a' appears twice in one map")):
        yr.read("x:\n  a: 1\n  a: 2\n")
    with pytest.raises(BadRequest, match="a key must be text"):
        yr.read("? [1, 2]\n: v\n")
    with pytest.raises(BadRequest, match="a merge \\(<<\\) takes a map"):
        yr.read("x:\n  <<: 5\n")


def test_an_alias_inside_the_value_it_names_is_refused():
    with pytest.raises(BadRequest, match="has an alias inside the value it names"):
        yr.read("a: &a [1, *a]\n")
    with pytest.raises(BadRequest, match="has an alias inside the value it names"):
        yr.read("a: &a {b: {c: *a}}\n")


@pytest.mark.parametrize("levels", range(1, 13))
def test_nested_anchors_are_counted_as_resolved_and_refused_past_the_bound(levels):
    text = nested_anchors(levels)
    assert len(text) < 1000
    resolved = sum(10 ** k for k in range(1, levels + 2))  # every list and every leaf, once per use
    tracemalloc.start()
    try:
        if resolved > yr.MAX_VALUES:
            with pytest.raises(BadRequest) as err:
                promptfile.loads(text)
            assert f"holds more than {yr.MAX_VALUES:,} values once its aliases (*name) are resolved" in str(err.value)
        else:
            pf = promptfile.loads(text)
            # kept as written, and written back with its anchors (never expanded on disk)
            assert len(promptfile.dumps(pf)) < 20 * len(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # memory follows the file, not what its aliases would expand to
    assert peak < 20_000_000, peak


def test_deep_nesting_is_one_sentence():
    with pytest.raises(BadRequest, match=f"nests deeper than {yr.MAX_DEPTH} levels"):
        yr.read("a: " + "[" * 80 + "]" * 80)
    with pytest.raises(BadRequest, match="nests too deeply to read"):
        yr.read("a: " + "[" * 5000 + "]" * 5000)


def reference_match(reply: str, choices) -> str | None:
    """gh models eval's rule, for comparison only: the first choice whose text is in the lower-cased reply."""
    low = reply.strip().lower()
    return next((c.choice for c in choices if c.choice.lower() in low), None)


GOOD = (Choice("good", 1.0), Choice("not good", 0.0))
YES_NO = (Choice("yes", 1.0), Choice("no", 0.0))
# (reply, choices, ours, the reference's): the replies on which the two rules differ (docs/evaluate.md lists them)
DIFFER = [
    ("Not good.", GOOD, "not good", "good"),
    ("Is it good? Not good.", GOOD, None, "good"),
    ("It is good, or maybe not good", GOOD, None, "good"),
    ("goodness knows", GOOD, None, "good"),
    ("Yesterday it was fine", YES_NO, None, "yes"),
    ("I know it is right", YES_NO, None, "no"),
    ("Score: 10", SCALE, None, "1"),
    ("I would rate it 4 out of 5", SCALE, None, "4"),
    ("Between 2 and 3", SCALE, None, "2"),
]


@pytest.mark.parametrize("reply,choices,ours,reference", DIFFER)
def test_whole_word_matching_beside_the_reference_substring_rule(reply, choices, ours, reference):
    got, _ = match_choice(reply, choices)
    assert (got.choice if got else None) == ours
    assert reference_match(reply, choices) == reference
