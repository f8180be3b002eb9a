"""Evaluate page inputs: the prompt file (bundled, uploaded, test data), its targets and settings, its summary."""

from __future__ import annotations

import streamlit as st

from services.types import TargetInfo
from services.errors import PlaygroundError
from services.evaluate import sources
from services.evaluate.formats import refusal
from services.evaluate.promptfile import PromptFile, dumps, loads, with_rows
from services.evaluate.runner import DEFAULT_JUDGE, MAX_REPEAT, MAX_TARGETS
from services.evaluate.targets import judge_notes, propose, target_for_model, unreachable_judges
from ui.file_download import file_download
from ui.safe_markdown import plain, sanitize
from ui.target_picker import label
from ui.upload_cache import parse_once

EACH = "(each evaluator's own modelId)"


def pick_prompt_file() -> tuple[PromptFile | None, str, str | None]:
    """The prompt file, its name and a key that changes with the file: (None, ...) until one is read."""
    pf, source_name, file_key = None, "", None
    examples = sources.examples()
    c1, c2 = st.columns([1, 2])
    origin = c1.radio("Prompt file", ["Bundled example", "Upload a file"], key="ev_origin")
    try:
        if origin == "Bundled example":
            pick = c2.selectbox("Example", list(examples), key="ev_example")
            if pick:
                pf, source_name, file_key = sources.load_file(examples[pick]), pick, f"example:{pick}"
        else:
            up = c2.file_uploader("A .prompt.yml file (GitHub Models format)", type=["yml", "yaml"], key="ev_upload")
            if up is not None:
                # parsed once per file (by its digest): an uploaded file stays in its box across reruns
                pf = parse_once(f"prompt file {up.name}", up.getvalue(), lambda raw: loads(raw, up.name))
                source_name, file_key = up.name, f"upload:{up.name}:{up.size}"
        data = st.file_uploader("Test data (optional): a .jsonl or .csv file that replaces the file's testData",
                                type=["jsonl", "csv"], key="ev_data")
        if pf is not None and data is not None:
            rows = parse_once(f"test data {data.name}", data.getvalue(),
                              lambda raw: sources.rows_from_file(data.name, raw))
            pf = with_rows(pf, rows)
            file_key = f"{file_key}+{data.name}:{data.size}"
    except PlaygroundError as exc:
        # the sentence names the file and the place; the upload stays in its box to fix and retry
        st.error(sanitize(exc.user_message()))
        pf = None
    return pf, source_name, file_key


def propose_targets(pf: PromptFile | None, file_key: str | None, by_name: dict[str, TargetInfo]) -> None:
    """A new file proposes its own model as the first target when it can answer, else the embedded model
    with a notice saying why (any target can be picked instead)."""
    state = st.session_state
    if file_key and state.get("ev_file_key") != file_key:
        state.ev_file_key = file_key
        first, state.ev_model_notice = propose(pf.model, by_name, DEFAULT_JUDGE) if pf else (DEFAULT_JUDGE, "")
        state.ev_targets = [first]
    state.setdefault("ev_targets", [DEFAULT_JUDGE])
    state.ev_targets = [t for t in state.ev_targets if t in by_name]
    if pf is not None and state.get("ev_model_notice"):
        st.warning(plain(state.ev_model_notice))


def run_settings(by_name: dict[str, TargetInfo]) -> tuple[list[str], int, str | None]:
    """Targets, repeats and judge (in the sidebar): (targets, repeat, judge or None for each evaluator's own)."""
    names = list(by_name)
    targets = st.multiselect(f"Targets (1 to {MAX_TARGETS})", names, key="ev_targets", max_selections=MAX_TARGETS,
                             format_func=lambda t: label(by_name[t]))
    for t in targets:
        if not by_name[t].available:
            st.warning(plain(f"{t} is unavailable: {by_name[t].reason.rstrip('. ')}. Its cases will be errors."))
    repeat = int(st.number_input("Repeat each case", 1, MAX_REPEAT, 1, key="ev_repeat",
                                 help="ask each case N times: sampling variance shows in the interval"))
    judge_pick = st.selectbox("Judge (llm and uses evaluators)", [EACH] + names, key="ev_judge",
                              help=f"default: each llm evaluator's modelId; built-in judges (and llm evaluators "
                                   f"without one) use {DEFAULT_JUDGE}")
    return targets, repeat, None if judge_pick == EACH else judge_pick


def file_notes(pf: PromptFile, judge: str | None, by_name: dict[str, TargetInfo]) -> list[str]:
    """What reading noticed, shown above the run; returns the sentences that stop a run (unreachable judges)."""
    notes = pf.notices + judge_notes(pf.evaluators, judge, DEFAULT_JUDGE)
    if notes:
        st.info(sanitize("\n".join(f"- {n}" for n in notes)))
    stops = unreachable_judges(pf.evaluators, judge, by_name)
    for sentence in stops:
        st.warning(plain(sentence))
    return stops


def file_summary(pf: PromptFile, source_name: str, targets: list[str], repeat: int,
                 by_name: dict[str, TargetInfo]) -> None:
    """What the file holds, its download, and what its response format and temperature mean for this run."""
    head = f"{pf.name or source_name} · {len(pf.rows())} case(s) · {len(pf.evaluators)} evaluator(s)"
    with st.expander(plain(head), expanded=False):
        if pf.description:
            st.caption(sanitize(pf.description))
        mapped = target_for_model(pf.model)
        st.caption(sanitize(f"model: {pf.model or '(none)'}" + (f" → target {mapped}" if mapped else "")))
        st.dataframe([{"evaluator": e.name, "kind": e.config if e.kind == "uses" else e.kind} for e in pf.evaluators],
                     hide_index=True, width="stretch")
        file_download("⬇ This prompt file (.prompt.yml)", dumps(pf),
                      file_name=source_name or "prompt.prompt.yml", mime="application/yaml", key="ev_save_file")
    fmt = pf.params().response_format
    if fmt.is_json:
        st.caption(plain(f"responseFormat {fmt.kind}: every case is asked under constrained decoding, and each "
                         "answer is checked against it."))
        for t in targets:
            sentence = refusal(t, by_name[t].capabilities, fmt)
            if sentence:
                st.warning(plain(sentence))
    if repeat > 1 and pf.params().temperature == 0:
        st.caption("Temperature is 0: repeats of a greedy local model give the same answer every time.")
