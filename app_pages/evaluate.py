"""Evaluate page: a `.prompt.yml` with test data and evaluators on 1 to 4 targets, with honest numbers."""

from __future__ import annotations

import json
import threading
import time

import streamlit as st

from services.errors import PlaygroundError
from services.evaluate import results, sources, storage
from services.evaluate.formats import refusal
from services.evaluate.promptfile import MAX_ROWS, dumps, loads, with_rows
from services.evaluate.runner import DEFAULT_JUDGE, MAX_REPEAT, MAX_TARGETS, EvalSpec, start_eval
from services.evaluate.targets import target_for_model
from ui.eval_views import cell_detail, flips_table, grid, pass_rate_chart, summary_table
from ui.provisioning import ensure_embedded_ready
from ui.safe_markdown import plain, sanitize
from ui.target_picker import all_targets, label

state = st.session_state
EACH = "(each evaluator's own modelId)"
st.title("📏 Evaluate")
st.caption("One prompt over many inputs, scored: a GitHub `.prompt.yml` (test data and evaluators) on 1 to "
           f"{MAX_TARGETS} targets at once, with pass rates and their 95% intervals. Up to {MAX_ROWS:,} rows per file.")

infos = all_targets()
by_name = {i.target: i for i in infos}
names = list(by_name)
examples = sources.examples()

# ---------- the prompt file ----------
pf, source_name, file_key = None, "", None
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
            pf, source_name, file_key = loads(up.getvalue(), up.name), up.name, f"upload:{up.name}:{up.size}"
    data = st.file_uploader("Test data (optional): a .jsonl or .csv file that replaces the file's testData",
                            type=["jsonl", "csv"], key="ev_data")
    if pf is not None and data is not None:
        pf = with_rows(pf, sources.rows_from_file(data.name, data.getvalue()))
        file_key = f"{file_key}+{data.name}:{data.size}"
except PlaygroundError as exc:
    # the sentence names the file and the place; the upload stays in its box to fix and retry
    st.error(sanitize(exc.user_message()))
    pf = None

# a new file proposes its own model as the first target (any target can be picked instead)
if file_key and state.get("ev_file_key") != file_key:
    state.ev_file_key = file_key
    mapped = target_for_model(pf.model) if pf else None
    state.ev_targets = [mapped if mapped in by_name else DEFAULT_JUDGE]
state.setdefault("ev_targets", [DEFAULT_JUDGE])
state.ev_targets = [t for t in state.ev_targets if t in by_name]

with st.sidebar:
    targets = st.multiselect(f"Targets (1 to {MAX_TARGETS})", names, key="ev_targets", max_selections=MAX_TARGETS,
                             format_func=lambda t: label(by_name[t]))
    for t in targets:
        if not by_name[t].available:
            st.warning(plain(f"{t} is unavailable: {by_name[t].reason.rstrip('. ')}. Its cases will be errors."))
    repeat = int(st.number_input("Repeat each case", 1, MAX_REPEAT, 1, key="ev_repeat",
                                 help="ask each case N times: sampling variance shows in the interval"))
    judge_pick = st.selectbox("Judge (llm and uses evaluators)", [EACH] + names, key="ev_judge",
                              help=f"default: each llm evaluator's modelId; built-in judges use {DEFAULT_JUDGE}")
    judge = None if judge_pick == EACH else judge_pick

if pf is not None:
    with st.expander(plain(f"{pf.name or source_name} · {len(pf.rows())} case(s) · {len(pf.evaluators)} evaluator(s)"),
                     expanded=False):
        if pf.description:
            st.caption(sanitize(pf.description))
        mapped = target_for_model(pf.model)
        st.caption(sanitize(f"model: {pf.model or '(none)'}" + (f" → target {mapped}" if mapped else "")))
        st.dataframe([{"evaluator": e.name, "kind": e.config if e.kind == "uses" else e.kind} for e in pf.evaluators],
                     hide_index=True, width="stretch")
        st.download_button("⬇ This prompt file (.prompt.yml)", dumps(pf), file_name=source_name or "prompt.prompt.yml",
                           mime="application/yaml", key="ev_save_file")
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


# ---------- running ----------

def finish_run(live: dict) -> None:
    """Close a run and keep it once (session and store), whichever script run gets here first.

    A Stop click starts the next script run while the stopped one is still closing; the lock makes
    the later one wait. No Streamlit output here: the stopped run may no longer draw.
    """
    with live["lock"]:
        if live.get("done"):
            return
        run = live["run"]
        run.close()
        rec = results.record(run)
        try:
            rec["id"] = storage.save(rec)
        except PlaygroundError as exc:
            state.ev_flash = f"This run was not saved: {exc.user_message()}"
        state.ev_last = rec
        state.pop("ev_diff", None)
        live["done"] = True
        if state.get("ev_live") is live:
            del state["ev_live"]


def execute(spec: EvalSpec) -> None:
    """Run with a progress bar and a Stop button, then keep the run and redraw from it."""
    for t in set(spec.targets) | set(spec.judges().values()):
        if not ensure_embedded_ready(t):
            st.stop()
    run = start_eval(spec)
    live = state.ev_live = {"run": run, "lock": threading.Lock()}
    # a click reruns the script, which abandons the loop below; finish_run keeps what finished
    st.button("⏹ Stop", key="ev_halt")
    bar = st.progress(0.0, text=f"0 of {len(run.trials)} answers")
    try:
        for tr in run.events():
            if tr is not None:
                bar.progress(run.done_count / len(run.trials),
                             text=sanitize(f"{run.done_count} of {len(run.trials)} answers · last: {tr.target} "
                                           f"case {tr.case + 1}: {tr.status}"))
    finally:
        finish_run(live)
    st.rerun()


ready = pf is not None and 1 <= len(targets) <= MAX_TARGETS
if st.button("▶ Run evaluation", type="primary", disabled=not ready, key="ev_run"):
    try:
        spec = EvalSpec.build(pf, targets, repeat=repeat, judge=judge, source=source_name)
    except PlaygroundError as exc:
        st.error(sanitize(exc.user_message()))
        st.stop()
    execute(spec)

if state.get("ev_live") is not None:
    with st.spinner("Stopping the run; finished answers are kept…"):
        finish_run(state.ev_live)
if state.get("ev_flash"):
    st.warning(sanitize(state.pop("ev_flash")))
pending = state.pop("ev_pending", None)
if pending is not None:
    execute(pending)

# ---------- results ----------
rec = state.get("ev_last")
if rec:
    st.subheader("Results")
    note = " · stopped early: only finished answers count" if rec["stopped"] else ""
    st.caption(plain(f"{rec['name'] or rec['source']} · {rec['cases']} case(s) x {rec['repeat']} · "
                        f"{rec['created']}{note}" + (f" · saved as run {rec['id']}" if rec.get("id") else "")))
    for sentence in (rec.get("refused") or {}).values():
        st.warning(plain(sentence))
    summary_table(rec)
    st.caption("Pass rate counts graded answers (every evaluator decided); errors and unscored answers (a judge "
               "reply that matched no choice) are shown apart, never counted as failures.")
    pass_rate_chart(rec)
    st.markdown("**Cases x targets** (click a cell, or choose below, to read the answer and each verdict)")
    clicked = grid(rec, "ev_grid")
    if clicked is not None:
        state.ev_cell_case, state.ev_cell_target = clicked[0] + 1, clicked[1]
    d1, d2 = st.columns([1, 3])
    case = int(d1.number_input("Case", 1, max(rec["cases"], 1), key="ev_cell_case")) - 1
    if state.get("ev_cell_target") not in rec["targets"]:
        state.ev_cell_target = rec["targets"][0]
    cell_target = d2.selectbox("Target", rec["targets"], key="ev_cell_target")
    cell_detail(rec, case, cell_target)
    c1, c2 = st.columns(2)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    c1.download_button("⬇ Results JSON (gh models eval fields)", json.dumps(results.gh_json(rec), ensure_ascii=False,
                       indent=1), file_name=f"eval-{stamp}.json", mime="application/json", key="ev_json")
    c2.download_button("⬇ Results CSV", results.to_csv(rec), file_name=f"eval-{stamp}.csv", mime="text/csv",
                       key="ev_csv")

with st.expander("Stored runs: show, re-run, diff"):
    try:
        stored = storage.recent(30)
    except PlaygroundError as exc:
        st.warning(sanitize(f"Stored runs cannot be read: {exc.user_message()}"))
        stored = []
    if not stored:
        st.caption("No stored runs yet.")
    else:
        by_id = {r["id"]: r for r in stored}

        def run_label(i: str) -> str:
            r = by_id[i]
            return f"{r['created']} · {r['name'] or r['source']} · {', '.join(r['targets'])}"

        chosen = st.selectbox("Run", list(by_id), format_func=run_label, key="ev_stored")
        b1, b2 = st.columns(2)
        if b1.button("Show it", key="ev_show_stored"):
            state.ev_last = by_id[chosen]
            st.rerun()
        if b2.button("Re-run it", key="ev_rerun"):
            try:
                state.ev_pending = results.spec_from_record(by_id[chosen])
            except PlaygroundError as exc:
                st.error(sanitize(exc.user_message()))
            else:
                st.rerun()
        other = st.selectbox("Diff against", [i for i in by_id if i != chosen], format_func=run_label,
                             key="ev_diff_with", index=None, placeholder="Pick another run…")
        if other:
            st.caption("Cases whose verdict flipped (majority over repeats), same case and test row, same target:")
            flips_table(results.diff(by_id[other], by_id[chosen]))
