"""One variant in a fresh process: decode speed first (nothing else loaded), then logits, then answers."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from bench import agreement, answers
from bench.raw_loops import LlamaRaw, OnnxRaw, TransformersRaw, chat_dicts

# llama.cpp evaluates a passage in one batch; every bundled passage is far shorter
PASSAGE_CTX = 1024


def _speed(runtime: str, path: str, runs: int, n: int) -> list[float]:
    """Decode tok/s of the runtime's plainest greedy loop, one untimed warm-up, then `runs` runs."""
    if runtime == "onnx":
        runner = OnnxRaw(folder=path)
    elif runtime == "llamacpp":
        runner = LlamaRaw(n_threads=len(os.sched_getaffinity(0)), path=path)
    else:
        runner = TransformersRaw(folder=path)
    runner.run(chat_dicts(), 8)
    out = [runner.run(chat_dicts(), n).decode_tps for _ in range(runs)]
    del runner
    return out


def reference_logits(hf_folder: str, work: Path) -> None:
    """The fp32 transformers model's logits for every passage, saved beside the token ids."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_folder)
    model = AutoModelForCausalLM.from_pretrained(hf_folder, dtype=torch.float32).eval()
    for p in answers.load_text_set():
        ids = tok(p["text"]).input_ids
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids])).logits[0].float().numpy()
        np.save(work / f"ids-{p['id']}.npy", np.asarray(ids, dtype=np.int64))
        np.save(work / f"ref-{p['id']}.npy", logits)


def _onnx_logits(path: str):
    """Teacher-forced logits straight from model.onnx: the whole passage as one prompt, empty cache."""
    import onnxruntime as ort

    cfg = json.loads((Path(path) / "genai_config.json").read_text())["model"]["decoder"]
    sess = ort.InferenceSession(str(Path(path) / cfg["filename"]), providers=["CPUExecutionProvider"])
    kv = {i.name: i for i in sess.get_inputs() if i.name.startswith("past_key_values")}
    dtype = {"tensor(float)": np.float32, "tensor(float16)": np.float16}

    def run(ids: np.ndarray) -> np.ndarray:
        feed = {"input_ids": ids[None, :], "attention_mask": np.ones((1, len(ids)), dtype=np.int64)}
        for name, info in kv.items():
            feed[name] = np.zeros((1, cfg["num_key_value_heads"], 0, cfg["head_size"]), dtype=dtype[info.type])
        return sess.run(["logits"], feed)[0][0].astype(np.float32)

    return run


def _llama_logits(path: str):
    """Teacher-forced logits from llama.cpp: eval the passage with logits for every position."""
    import llama_cpp

    llm = llama_cpp.Llama(path, n_ctx=PASSAGE_CTX, n_batch=PASSAGE_CTX, logits_all=True,
                          n_threads=len(os.sched_getaffinity(0)), verbose=False)

    def run(ids: np.ndarray) -> np.ndarray:
        llm.reset()
        llm.eval(ids.tolist())
        return np.array(llm.scores[: len(ids)], dtype=np.float32)

    return run


def _agreement(runtime: str, path: str, work: Path) -> dict:
    run = _onnx_logits(path) if runtime == "onnx" else _llama_logits(path)
    agg = agreement.Agreement()
    for p in answers.load_text_set():
        ids = np.load(work / f"ids-{p['id']}.npy")
        agg.add(np.load(work / f"ref-{p['id']}.npy"), run(ids))
    return agg.summary()


def answer_check(target: str, limit: int | None, seed: int = 0) -> dict:
    """Every bundled instruction through the real services at the app's default parameters."""
    from services.chat import start_chat
    from services.types import GenerationParams, Message

    items = answers.load_instructions()[:limit]
    rows = []
    for it in items:
        answer = start_chat(target, [Message("user", it["prompt"])], GenerationParams(seed=seed))
        answer.text()  # a failure is raised
        s = answer.outcome
        rows.append({"id": it["id"], "pass": answers.passes(it, s.text), "finish": s.finish_reason,
                     "looped": answers.looped(s.text, s.finish_reason),
                     "tokens": s.metrics.completion_tokens, "text": s.text[:300]})
    return {"n": len(rows), "passed": sum(r["pass"] for r in rows), "looped": sum(r["looped"] for r in rows),
            "hit_limit": sum(r["finish"] == "length" for r in rows), "rows": rows}


def main(spec: dict) -> dict:
    out: dict = {"name": spec["name"]}
    work = Path(spec["work"])
    if spec.get("speed_runs"):
        t = time.perf_counter()
        tps = _speed(spec["runtime"], spec["path"], spec["speed_runs"], spec["speed_n"])
        out.update(decode_tps=statistics.median(tps), decode_min=min(tps), decode_max=max(tps),
                   speed_s=time.perf_counter() - t)
    if spec["runtime"] == "transformers":
        out.update(top1=1.0, kl_mean=0.0, kl_median=0.0, kl_p99=0.0, reference=True)
    else:
        out.update(_agreement(spec["runtime"], spec["path"], work))
    if spec.get("target"):
        out["answers"] = answer_check(spec["target"], spec.get("answer_limit"))
    return out


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    if spec.get("mode") == "reference":
        reference_logits(spec["hf"], Path(spec["work"]))
        print(json.dumps({"ok": True}))
    else:
        print(json.dumps(main(spec)))
