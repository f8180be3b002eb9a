"""Teacher-forced agreement of a candidate's logits with a reference's: top-1 match and KL divergence."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities in float64 (float32 loses the small KL values we look for)."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def kl_per_position(ref_logits: np.ndarray, cand_logits: np.ndarray) -> np.ndarray:
    """KL(reference || candidate) in nats at each position, as llama.cpp's --kl-divergence reports it."""
    if ref_logits.shape != cand_logits.shape:
        raise ValueError(f"logit shapes differ: {ref_logits.shape} vs {cand_logits.shape}")
    lp, lq = log_softmax(ref_logits), log_softmax(cand_logits)
    # clip: rounding can make a near-identical pair come out a hair below zero
    return np.maximum((np.exp(lp) * (lp - lq)).sum(axis=-1), 0.0)


@dataclass
class Agreement:
    """Running totals over passages: positions, top-1 matches and per-position KL values."""

    positions: int = 0
    same_top1: int = 0
    kls: list[float] = field(default_factory=list)

    def add(self, ref_logits: np.ndarray, cand_logits: np.ndarray) -> None:
        """Fold in one passage's [positions, vocab] logits from both sides."""
        ref, cand = np.atleast_2d(ref_logits), np.atleast_2d(cand_logits)
        self.kls.extend(kl_per_position(ref, cand).tolist())
        self.same_top1 += int((ref.argmax(-1) == cand.argmax(-1)).sum())
        self.positions += ref.shape[0]

    def summary(self) -> dict:
        """Top-1 agreement (fraction), mean / median / 99th-percentile KL per token."""
        if not self.positions:
            return {"positions": 0, "top1": float("nan"), "kl_mean": float("nan"),
                    "kl_median": float("nan"), "kl_p99": float("nan")}
        k = np.asarray(self.kls)
        return {"positions": self.positions, "top1": self.same_top1 / self.positions,
                "kl_mean": float(k.mean()), "kl_median": float(np.median(k)),
                "kl_p99": float(np.percentile(k, 99))}
