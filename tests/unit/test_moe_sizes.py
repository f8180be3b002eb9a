"""Which dtype a bf16 checkpoint loads in: fp32 when it fits, bf16 when only the 16-bit copy does."""

import json

from services.backends.transformers import moe_sizes

GB = 10**9


def _folder(tmp_path, stored: str, size: int):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "phimoe", "torch_dtype": stored}))
    with open(tmp_path / "model.safetensors", "wb") as fh:
        fh.truncate(size)  # sparse: only the size is read
    return tmp_path


def test_phi_tiny_moe_on_16_gb_loads_bf16(tmp_path):
    folder = _folder(tmp_path, "bfloat16", int(7.6 * GB))
    assert moe_sizes.dtype_that_fits(folder, "float32", 16 * GB) == "bfloat16"  # 15.2 GB fp32 > 12.8 GB
    assert moe_sizes.dtype_that_fits(folder, "float32", 32 * GB) == "float32"   # fp32 fits: exact answers
    assert moe_sizes.dtype_that_fits(folder, "float32", 8 * GB) == "float32"    # neither fits: unchanged
    assert moe_sizes.dtype_that_fits(folder, "bfloat16", 64 * GB) == "bfloat16"  # the user's choice stands
    assert moe_sizes.dtype_that_fits(folder, "float32", None) == "float32"       # memory unknown


def test_fp32_checkpoints_and_missing_folders_are_left_alone(tmp_path):
    assert moe_sizes.dtype_that_fits(_folder(tmp_path, "float32", 7 * GB), "float32", 10 * GB) == "float32"
    assert moe_sizes.dtype_that_fits(tmp_path / "nothing", "float32", 10 * GB) == "float32"
