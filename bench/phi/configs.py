"""The published configurations of the Phi models the bench builds, at full or reduced depth."""

from __future__ import annotations

import copy

# microsoft/Phi-3-mini-4k-instruct config.json (fields that shape the weights and the converters' paths)
PHI3_MINI = {
    "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "vocab_size": 32064, "hidden_size": 3072,
    "intermediate_size": 8192, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
    "hidden_act": "silu", "max_position_embeddings": 4096, "original_max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None, "sliding_window": 2047,
    "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 32000, "pad_token_id": 32000,
    "attention_dropout": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0, "initializer_range": 0.02,
    "torch_dtype": "bfloat16", "use_cache": True,
}

# microsoft/Phi-3.5-mini-instruct: the same layer shape, 128k context by LongRoPE (48 factors each, head_dim/2)
LONG_FACTOR = [1.0800000429153442, 1.1100000143051147, 1.1399999856948853, 1.340000033378601, 1.5899999141693115,
               1.600000023841858, 1.6200000047683716, 2.620000123977661, 3.2300000190734863, 3.2300000190734863,
               4.789999961853027, 7.400000095367432, 7.700000286102295, 9.09000015258789, 12.199999809265137,
               17.670000076293945, 24.46000099182129, 28.57000160217285, 30.420001983642578, 30.840002059936523,
               32.590003967285156, 32.93000411987305, 42.320003509521484, 44.96000289916992, 50.340003967285156,
               50.45000457763672, 57.55000305175781, 57.93000411987305, 58.21000289916992, 60.1400032043457,
               62.61000442504883, 62.62000274658203, 62.71000289916992, 63.1400032043457, 63.1400032043457,
               63.77000427246094, 63.93000411987305, 63.96000289916992, 63.970001220703125, 64.02999877929688,
               64.06999969482422, 64.08000183105469, 64.12000274658203, 64.41000366210938, 64.4800033569336,
               64.51000213623047, 64.52999877929688, 64.83999633789062]
SHORT_FACTOR = [1.0, 1.0199999809265137, 1.0299999713897705, 1.0299999713897705, 1.0499999523162842,
                1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0699999332427979,
                1.0999999046325684, 1.1099998950958252, 1.1599998474121094, 1.1599998474121094, 1.1699998378753662,
                1.2899998426437378, 1.339999794960022, 1.679999828338623, 1.7899998426437378, 1.8199998140335083,
                1.8499997854232788, 1.8799997568130493, 1.9099997282028198, 1.9399996995925903, 1.9899996519088745,
                2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346,
                2.0199997425079346, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914,
                2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914,
                2.0799996852874756, 2.0899996757507324, 2.189999580383301, 2.2199995517730713, 2.5899994373321533,
                2.729999542236328, 2.749999523162842, 2.8399994373321533]
PHI35_MINI = {
    **PHI3_MINI, "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
    "sliding_window": 262144, "eos_token_id": 32000,
    "rope_scaling": {"type": "longrope", "long_factor": LONG_FACTOR, "short_factor": SHORT_FACTOR},
}

# microsoft/Phi-3.5-MoE-instruct: 16 experts, 2 active per token; 32 layers (42B) do not fit, so fewer are built
PHI35_MOE = {
    "architectures": ["PhiMoEForCausalLM"], "model_type": "phimoe", "vocab_size": 32064, "hidden_size": 4096,
    "intermediate_size": 6400, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
    "hidden_act": "silu", "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "sliding_window": 131072, "num_local_experts": 16,
    "num_experts_per_tok": 2, "router_jitter_noise": 0.01, "input_jitter_noise": 0.01,
    "attention_bias": True, "lm_head_bias": True, "tie_word_embeddings": False, "bos_token_id": 1,
    "eos_token_id": 32000, "initializer_range": 0.02, "torch_dtype": "bfloat16", "use_cache": True,
    "rope_scaling": None,
}

CONFIGS = {"phi3-mini": PHI3_MINI, "phi35-mini": PHI35_MINI, "phi35-moe": PHI35_MOE}
# the depth each is built at unless --layers says otherwise: the MoE's 16 experts make a layer 1.3B parameters
DEFAULT_LAYERS = {"phi3-mini": 32, "phi35-mini": 32, "phi35-moe": 2}


def config(name: str, layers: int | None = None) -> dict:
    """The config.json fields of one model at the given depth (its published depth when None)."""
    cfg = copy.deepcopy(CONFIGS[name])
    cfg["num_hidden_layers"] = int(layers or DEFAULT_LAYERS[name])
    return cfg


def is_moe(cfg: dict) -> bool:
    """A mixture of experts: only num_experts_per_tok of num_local_experts are read per token."""
    return "num_local_experts" in cfg


def kv_bytes_per_token(cfg: dict, dtype_bytes: int = 2) -> int:
    """KV cache bytes one token of context holds: K and V for every layer and KV head."""
    head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    return 2 * cfg["num_hidden_layers"] * cfg["num_key_value_heads"] * head_dim * dtype_bytes
