"""Expert-routing views: heatmap, load, entropy and balance, specialisation, two prompts side by side."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from services.reasoning import routing
from services.models.local import human
from ui.file_download import file_download
from ui.safe_markdown import plain

# rows the heatmap draws at most (a long answer on a 32-layer model is tens of thousands of cells)
MAX_HEATMAP_TOKENS = 400


def _token_label(cell: dict) -> str:
    # position first keeps repeated tokens apart and in order on the axis
    return f"{cell['position']:>4} {cell['token']!r}"


def model_facts(info: dict, *, container=None) -> None:
    """What the model is and how it routes; the fair note first when its weights are random."""
    where = container or st
    if not info:
        return
    if info.get("random_weights"):
        where.warning(plain(f"{routing.RANDOM_NOTE} How we know: {info['random_weights']}."), icon="🎲")
    parts = [str(info.get("model_type") or "?")]  # from the model's own config.json: escaped below
    if info.get("n_experts"):
        parts.append(f"{info['n_experts']} experts, top-{info.get('top_k', '?')}")
    if info.get("total_params"):
        parts.append(f"{info['total_params'] / 1e9:.2f}B total / {info['active_params'] / 1e9:.2f}B active parameters"
                     if info["total_params"] >= 1e8 else
                     f"{info['total_params']:,} total / {info['active_params']:,} active parameters")
    weights = info.get("weight_bytes") or {}
    if weights:
        parts.append("weights " + ", ".join(f"{human(b)} in {name}" for name, b in weights.items()))
    if info.get("shared_experts"):
        gate = "gated per token" if info.get("shared_gated") else "weight 1"
        parts.append(f"{info['shared_experts']} shared expert(s) every token uses ({gate})")
    where.caption(plain(" · ".join(parts)))
    if info.get("scoring"):
        where.caption(f"Router: {plain(info['scoring'])}. Weights are shown as the router gives them.")


def heatmap(events: list, *, title: str = "", container=None) -> None:
    """Tokens down, layers across; each cell coloured by the expert with the largest weight."""
    where = container or st
    cells = routing.heatmap(events)
    if not cells:
        where.info("No routing was recorded for this run.")
        return
    df = pd.DataFrame(cells)
    positions = sorted(set(df["position"]))
    if len(positions) > MAX_HEATMAP_TOKENS:
        where.caption(f"Showing the first {MAX_HEATMAP_TOKENS} of {len(positions)} tokens; the exports hold all.")
        df = df[df["position"] < positions[MAX_HEATMAP_TOKENS]]
    df["label"] = [_token_label(c) for c in df.to_dict("records")]
    order = list(dict.fromkeys(df.sort_values("position")["label"]))
    chart = (
        alt.Chart(df, **({"title": title} if title else {}))
        .mark_rect()
        .encode(
            x=alt.X("layer:O", title="layer"),
            y=alt.Y("label:N", sort=order, title="token"),
            color=alt.Color("expert:N", title="top expert"),
            tooltip=["position", "token", "layer", "expert", "weight", alt.Tooltip("experts", title="chosen"),
                     alt.Tooltip("shared", title="shared experts")],
        )
        .properties(height=min(max(14 * len(order), 120), 2400))
    )
    where.altair_chart(chart, width="stretch")


def load_chart(events: list, *, container=None) -> None:
    """Bar chart per layer: how many tokens each expert took."""
    where = container or st
    load = routing.expert_load(events)
    rows = [{"layer": layer, "expert": str(e), "tokens": n}
            for layer, counts in load.items() for e, n in counts.items()]
    if not rows:
        return
    chart = (
        alt.Chart(pd.DataFrame(rows))
        .mark_bar()
        .encode(x=alt.X("expert:N", title="expert"), y=alt.Y("tokens:Q"), color="expert:N",
                column=alt.Column("layer:O", title="layer"), tooltip=["layer", "expert", "tokens"])
    )
    where.altair_chart(chart)


def stats_table(events: list, *, container=None) -> None:
    """Per layer: entropy of the expert load, its coefficient of variation, the busiest expert."""
    where = container or st
    stats = routing.layer_stats(events)
    if not stats:
        return
    s = routing.summary(events)
    c1, c2 = where.columns(2)
    c1.metric("Routing entropy (1 = spread evenly)", f"{s['mean_entropy_norm']:.2f}",
              help="per layer: entropy of the share of tokens each expert took, over log2(experts); mean of layers")
    c2.metric("Load imbalance (CV)", f"{s['mean_load_cv']:.2f}",
              help="per layer: std / mean of the tokens per expert, unused experts counted as 0; 0 = even")
    where.dataframe(pd.DataFrame(stats), hide_index=True)


def specialisation_table(events: list, key: str, *, container=None) -> None:
    """For one layer, each expert's most frequent tokens."""
    where = container or st
    spec = routing.specialisation(events)
    layers = sorted({x["layer"] for x in spec})
    if not layers:
        return
    layer = where.selectbox("Layer", layers, key=f"{key}_spec_layer",
                            help="the tokens each expert took most often in this layer (its specialisation)")
    rows = [{"expert": x["expert"], "tokens taken": x["load"],
             "most often": ", ".join(f"{t['token']!r} ×{t['count']}" for t in x["top_tokens"])}
            for x in spec if x["layer"] == layer]
    where.dataframe(pd.DataFrame(rows), hide_index=True)


def difference(a: list, b: list, *, container=None) -> None:
    """Per layer, how differently the two prompts spread over the experts (0 = same, 1 = disjoint)."""
    where = container or st
    diff = routing.routing_difference(a, b)
    if not diff:
        return
    mean = sum(d["distance"] for d in diff) / len(diff)
    where.metric("Mean routing distance (0 = same spread, 1 = disjoint)", f"{mean:.3f}")
    rows = [{"layer": d["layer"], "distance": d["distance"],
             "prompt A share": ", ".join(f"e{e}:{s:.2f}" for e, s in zip(d["experts"], d["share_a"], strict=True)),
             "prompt B share": ", ".join(f"e{e}:{s:.2f}" for e, s in zip(d["experts"], d["share_b"], strict=True))}
            for d in diff]
    where.dataframe(pd.DataFrame(rows), hide_index=True)


def downloads(events: list, key: str, *, info: dict | None = None, container=None) -> None:
    """CSV (records, per-layer statistics) and JSON (records, statistics, model) exports."""
    where = container or st
    c1, c2, c3 = where.columns(3)
    file_download("Routing CSV", routing.to_csv(events), file_name="routing.csv", mime="text/csv",
                  key=f"{key}_csv", where=c1)
    file_download("Statistics CSV", routing.stats_csv(events), file_name="routing-stats.csv", mime="text/csv",
                  key=f"{key}_stats_csv", where=c2)
    file_download("Routing JSON", routing.to_json(events, info), file_name="routing.json",
                  mime="application/json", key=f"{key}_json", where=c3)


def routing_panel(events: list, key: str, *, title: str = "", info: dict | None = None) -> None:
    """Heatmap, load, statistics, specialisation and export for one run."""
    st.caption(f"{len(events)} token-layer records.")
    heatmap(events, title=title)
    load_chart(events)
    stats_table(events)
    specialisation_table(events, key)
    downloads(events, key, info=info)


def side_by_side(a: list, b: list, key: str, *, info: dict | None = None) -> None:
    """Two prompts in two columns (heatmap and statistics each), then how they differ, then exports."""
    left, right = st.columns(2)
    for col, events, name in ((left, a, "A"), (right, b, "B")):
        col.subheader(f"Prompt {plain(name)}")
        col.caption(f"{len(events)} token-layer records.")
        heatmap(events, title=f"Prompt {name}", container=col)
        stats_table(events, container=col)
        specialisation_table(events, f"{key}_{name}", container=col)
    st.subheader("Difference between A and B")
    difference(a, b)
    for events, name in ((a, "A"), (b, "B")):
        st.caption(f"Prompt {plain(name)} exports")
        downloads(events, f"{key}_{name}", info=info)
