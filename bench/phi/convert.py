"""The users' converters: llama.cpp's convert_hf_to_gguf.py from the llama-cpp-python sdist, llama_cpp's quantize,
and onnxruntime-genai's model builder; each runs in its own process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

# llama_ftype values (llama.h)
GGUF_TYPES = {"Q4_0": 2, "Q8_0": 7, "Q4_K_M": 15}
# ONNX variants: the published CPU builds' int4 recipe (RTN, block 32, accuracy level 4), and block 128
# (og 0.18 names them block_size and accuracy_level; it ignores the older int4_block_size spelling)
ONNX_VARIANTS = {"int4": ["block_size=32", "accuracy_level=4"],
                 "int4-b128": ["block_size=128", "accuracy_level=4"]}

QUANTIZE = r"""
import sys, llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = int(sys.argv[3])
params.nthread = int(sys.argv[4])
rc = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), params)
sys.exit(rc)
"""


def _run(cmd: list[str], progress, what: str, env: dict | None = None, cwd: Path | None = None) -> None:
    progress(what)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **(env or {})), cwd=cwd)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{tail}")


def llama_cpp_source(cache: Path, progress) -> Path:
    """vendor/llama.cpp of the llama-cpp-python sdist of the installed version, downloaded once."""
    from importlib.metadata import version

    ver = version("llama_cpp_python")
    root = Path(cache) / f"llama_cpp_python-{ver}"  # the sdist's own top folder
    src = root / "vendor" / "llama.cpp"
    if (src / "convert_hf_to_gguf.py").exists():
        return src
    dl = Path(cache) / "sdist"
    dl.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(dl),
          f"llama-cpp-python=={ver}"], progress, f"downloading the llama-cpp-python {ver} sdist")
    archive = next(dl.glob(f"llama_cpp_python-{ver}.tar.gz"))
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name and
                   ("/gguf-py/" in m.name or "/conversion/" in m.name or m.name.endswith(
                       ("convert_hf_to_gguf.py", "/models/ggml-vocab-llama-spm.gguf")))]
        tar.extractall(cache, members=members, filter="data")
    return src


def gguf_from_hf(hf: Path, out: Path, src: Path, progress) -> Path:
    """convert_hf_to_gguf.py to bf16, with the sdist's gguf-py and conversion/ on the path."""
    tmp = out.with_suffix(".part")
    paths = os.pathsep.join([str(src / "gguf-py"), str(src)])
    _run([sys.executable, str(src / "convert_hf_to_gguf.py"), str(hf), "--outfile", str(tmp), "--outtype", "bf16"],
         progress, f"convert_hf_to_gguf.py {hf.name} -> {out.name}", env={"PYTHONPATH": paths})
    tmp.rename(out)
    return out


def quantize(src_gguf: Path, out: Path, fmt: str, progress) -> Path:
    """llama_cpp.llama_model_quantize, as `llama-quantize` does."""
    tmp = out.with_suffix(".part")
    threads = str(len(os.sched_getaffinity(0)))
    _run([sys.executable, "-c", QUANTIZE, str(src_gguf), str(tmp), str(GGUF_TYPES[fmt]), threads], progress,
         f"llama_model_quantize {fmt} -> {out.name}")
    tmp.rename(out)
    return out


def onnx_from_hf(hf: Path, out: Path, variant: str, progress) -> Path:
    """python -m onnxruntime_genai.models.builder, int4 on CPU with the variant's options."""
    tmp = out.with_name(out.name + ".part")
    cache = out.with_name(out.name + ".builder-cache")
    for stale in (tmp, cache):
        shutil.rmtree(stale, ignore_errors=True)
    _run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf), "-o", str(tmp), "-p", "int4",
          "-e", "cpu", "-c", str(cache), "--extra_options", *ONNX_VARIANTS[variant]], progress,
         f"onnxruntime_genai.models.builder int4 {' '.join(ONNX_VARIANTS[variant])} -> {out.name}")
    shutil.rmtree(cache, ignore_errors=True)  # the builder's copy of the fp32 weights
    want = int(ONNX_VARIANTS[variant][0].split("=")[1])
    got = block_sizes(tmp)
    if got != {want}:
        raise RuntimeError(f"the builder wrote MatMulNBits block sizes {sorted(got)}, not {want}")
    tmp.rename(out)
    return out


def block_sizes(folder: Path) -> set[int]:
    """The block_size of every MatMulNBits node in folder/model.onnx."""
    import onnx

    model = onnx.load(str(Path(folder) / "model.onnx"), load_external_data=False)
    return {a.i for n in model.graph.node if n.op_type == "MatMulNBits" for a in n.attribute if a.name == "block_size"}
