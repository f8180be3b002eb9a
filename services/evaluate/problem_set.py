"""The bundled reasoning problem set: load and validate JSONL, run it on targets, score, export."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from services.chat import resolve_target
from services.conversations.store import open_store
from services.csv_export import dicts_csv
from services.errors import BadRequest, PlaygroundError
from services.evaluate.evaluator_spec import parse_evaluator
from services.evaluate.promptfile import PromptFile
from services.evaluate.runner import MAX_TARGETS, EvalSpec, start_eval
from services.json_input import json_lines
from services.reasoning.methods import PRESETS, build_messages, extract_answer, parse_number
from services.types import GenerationParams

BUNDLED = Path(__file__).resolve().parents[2] / "assets" / "reasoning" / "problems.jsonl"
DIFFICULTIES = ("easy", "medium", "hard")
ANSWER_TYPES = ("number", "text")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_PROBLEMS = 500
# a problem set file: 500 problems of a few KB each fit well under this
MAX_FILE_BYTES = 2_000_000


@dataclass(frozen=True)
class Problem:
    """One question with its verified answer."""

    id: str
    category: str
    difficulty: str
    question: str
    answer: str
    answer_type: str = "text"
    accept: tuple[str, ...] = ()


def _problem(data, line: int) -> Problem:
    where = f"line {line}"
    if not isinstance(data, dict):
        raise BadRequest(f"Problem set {where}: each line must be a JSON object.")
    for key in ("id", "category", "difficulty", "question", "answer"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"Problem set {where}: '{key}' must be non-empty text.")
    unknown = set(data) - {"id", "category", "difficulty", "question", "answer", "answer_type", "accept"}
    if unknown:
        raise BadRequest(f"Problem set {where}: unknown field(s) {', '.join(sorted(unknown))}.")
    if not _ID.match(data["id"]):
        raise BadRequest(f"Problem set {where}: id {data['id']!r} may use letters, digits, '-', '_' and '.' only.")
    if data["difficulty"] not in DIFFICULTIES:
        raise BadRequest(f"Problem set {where}: difficulty must be one of {', '.join(DIFFICULTIES)}.")
    kind = data.get("answer_type", "text")
    if kind not in ANSWER_TYPES:
        raise BadRequest(f"Problem set {where}: answer_type must be one of {', '.join(ANSWER_TYPES)}.")
    if kind == "number" and parse_number(data["answer"]) is None:
        raise BadRequest(f"Problem set {where}: answer {data['answer']!r} is not a number.")
    accept = data.get("accept", [])
    if not isinstance(accept, list) or not all(isinstance(a, str) and a.strip() for a in accept):
        raise BadRequest(f"Problem set {where}: 'accept' must be a list of non-empty strings.")
    return Problem(data["id"], data["category"], data["difficulty"], data["question"], data["answer"],
                   kind, tuple(accept))


def parse_problems(text: str | bytes) -> list[Problem]:
    """Problems from JSONL text (or an uploaded file's UTF-8 bytes); every error names its line.

    Bounded before any line is read: the size, then the count as problems are read (never all first).
    """
    if len(text) > MAX_FILE_BYTES:
        raise BadRequest(f"The problem set is larger than {MAX_FILE_BYTES // 1_000_000} MB; split it "
                         f"(at most {MAX_PROBLEMS} problems run at once).")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("That file is not UTF-8 text; a problem set is JSON lines.") from None
    problems, seen = [], set()
    too_many = f"The problem set has more than {MAX_PROBLEMS} problems; at most {MAX_PROBLEMS} run at once."
    for n, data in json_lines(text, "Problem set", limit=MAX_PROBLEMS, too_many=too_many):
        p = _problem(data, n)
        if p.id in seen:
            raise BadRequest(f"Problem set line {n}: id {p.id!r} is used twice.")
        seen.add(p.id)
        problems.append(p)
    if not problems:
        raise BadRequest("The problem set is empty: give one JSON object per line.")
    return problems


def load_problems(path: str | Path | None = None) -> list[Problem]:
    """Problems from a JSONL file (the bundled set by default)."""
    path = Path(path) if path else BUNDLED
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadRequest(f"No problem set at {path}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Cannot read the problem set {path}: {exc}.") from None
    return parse_problems(text)


@dataclass
class Outcome:
    """One problem on one target."""

    target: str
    problem_id: str
    category: str
    difficulty: str
    expected: str
    predicted: str | None
    correct: bool
    method: str
    prompt_tokens: int | None
    completion_tokens: int | None
    seconds: float | None
    error: str = ""
    text: str = ""


@dataclass
class TargetScore:
    """Accuracy, tokens and time for one target."""

    target: str
    correct: int = 0
    total: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        return round(self.correct / self.total, 4) if self.total else 0.0


@dataclass
class SuiteRun:
    """A problem set run on one or more targets."""

    targets: list[str]
    params: dict
    step_by_step: bool
    outcomes: list[Outcome] = field(default_factory=list)
    scores: dict[str, TargetScore] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON shape for `moe --suite --json` and the page's export."""
        return {
            "targets": {t: {"accuracy": s.accuracy, "correct": s.correct, "total": s.total, "errors": s.errors,
                            "prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens,
                            "seconds": round(s.seconds, 3)} for t, s in self.scores.items()},
            "params": self.params,
            "step_by_step": self.step_by_step,
            "outcomes": [asdict(o) for o in self.outcomes],
        }

    def score_rows(self) -> list[dict]:
        """One row per target: accuracy, counts, tokens out and seconds (the page's Accuracy table)."""
        return [{"target": t, "accuracy": f"{s.accuracy:.0%}", "correct": s.correct, "problems": s.total,
                 "errors": s.errors, "tokens out": s.completion_tokens, "seconds": round(s.seconds, 3)}
                for t, s in self.scores.items()]

    def problem_rows(self) -> list[dict]:
        """One row per problem, one column per target ("✓ 42", "✗ –"): where targets disagree, at a glance."""
        table: dict[str, dict] = {}
        for o in self.outcomes:
            row = table.setdefault(o.problem_id, {"problem": o.problem_id, "category": o.category,
                                                  "difficulty": o.difficulty, "expected": o.expected})
            row[o.target] = ("✓ " if o.correct else "✗ ") + str(o.predicted or "–")
        return list(table.values())

    def to_csv(self) -> str:
        """One row per problem and target."""
        cols = [f for f in Outcome.__dataclass_fields__ if f != "text"]
        return dicts_csv(cols, (asdict(o) for o in self.outcomes))


def suite_prompt(problems: list[Problem], *, step_by_step: bool = True):
    """The problem set as an evaluation: one row per problem, its preset's system prompt, and a
    final-answer evaluator that scores as the MoE page always has (numbers exactly, text by words)."""
    rows = []
    for p in problems:
        preset = p.category if p.category in PRESETS else "math"
        system, user = build_messages(p.question, preset, step_by_step=step_by_step)
        rows.append({"id": p.id, "category": p.category, "difficulty": p.difficulty, "question": user.content,
                     "answer": p.answer, "answer_type": p.answer_type, "accept": list(p.accept),
                     "system": system.content})
    evaluator = parse_evaluator({"name": "final-answer", "answer": {
        "value": "{{answer}}", "type": "{{answer_type}}", "accept": "{{accept}}"}}, 1)
    return PromptFile(name="Reasoning problem set", messages=[{"role": "system", "content": "{{system}}"},
                                                              {"role": "user", "content": "{{question}}"}],
                      test_data=rows, evaluators=[evaluator])


def run_suite(problems: list[Problem], targets: list[str], params: GenerationParams | None = None, *,
              step_by_step: bool = True,
              on_outcome: Callable[[int, int, Outcome], None] | None = None) -> SuiteRun:
    """Ask every problem of every target once, on the evaluation engine; a failing problem is scored
    wrong, never fatal. Targets go in groups of the engine's 4 at most."""
    if not targets:
        raise BadRequest("Pick at least one target to run the problem set on.")
    names = [str(resolve_target(t)) for t in targets]
    if len(set(names)) != len(names):
        raise BadRequest("Each target can run the problem set only once per run.")
    params = params or GenerationParams(temperature=0.0)
    run = SuiteRun(names, params.to_dict(), step_by_step, scores={t: TargetScore(t) for t in names})
    prompt = suite_prompt(problems, step_by_step=step_by_step)
    total, done = len(names) * len(problems), 0
    found_at: dict[tuple[str, int], Outcome] = {}
    for g in range(0, len(names), MAX_TARGETS):
        engine = start_eval(EvalSpec.build(prompt, names[g: g + MAX_TARGETS], params=params))
        try:
            for tr in engine.events():
                if tr is None:
                    continue
                p = problems[tr.case]
                found = extract_answer(tr.response)
                m = tr.metrics
                o = Outcome(tr.target, p.id, p.category, p.difficulty, p.answer, found.answer, tr.status == "pass",
                            found.method, m.get("prompt_tokens"), m.get("completion_tokens"), m.get("total_s"),
                            tr.error or "", tr.response)
                found_at[(tr.target, tr.case)] = o
                score = run.scores[tr.target]
                score.total += 1
                score.correct += int(o.correct)
                score.errors += int(bool(o.error))
                score.prompt_tokens += o.prompt_tokens or 0
                score.completion_tokens += o.completion_tokens or 0
                score.seconds += o.seconds or 0.0
                done += 1
                if on_outcome:
                    on_outcome(done, total, o)
        finally:
            engine.close()
    # in target order, then problem order, whatever order remote answers finished in
    run.outcomes = [found_at[(t, i)] for t in names for i in range(len(problems)) if (t, i) in found_at]
    return run


def save_suite(run: SuiteRun, path=None) -> str | None:
    """Keep the run in the database as kind "reasoning"; None when no database can be opened."""
    try:
        return open_store(path).save_run("reasoning", run.to_dict())
    except (PlaygroundError, OSError, ImportError):
        return None
