"""Expert-routing views: tokens x layers heatmap, expert load per layer, two-prompt difference."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from services import routing


def _token_label(cell: dict) -> str:
    # position first keeps repeated tokens apart and in order on the axis
    return f"{cell['position']:>4} {cell['token']!r}"


def heatmap(events: list, *, title: str = "", container=None) -> None:
    """Tokens down, layers across; each cell coloured by the expert with the largest weight."""
    where = container or st
    cells = routing.heatmap(events)
    if not cells:
        where.info("No routing was recorded for this run.")
        return
    df = pd.DataFrame(cells)
    df["label"] = [_token_label(c) for c in cells]
    order = list(dict.fromkeys(df.sort_values("position")["label"]))
    chart = (
        alt.Chart(df, **({"title": title} if title else {}))
        .mark_rect()
        .encode(
            x=alt.X("layer:O", title="layer"),
            y=alt.Y("label:N", sort=order, title="token"),
            color=alt.Color("expert:N", title="top expert"),
            tooltip=["position", "token", "layer", "expert", "weight", alt.Tooltip("experts", title="chosen")],
        )
        .properties(height=min(max(14 * len(order), 120), 2400))
    )
    where.altair_chart(chart, width="stretch")


def load_chart(events: list, *, container=None) -> None:
    """Bar chart per layer: how many tokens each expert took."""
    where = container or st
    load = routing.expert_load(events)
    rows = [{"layer": layer, "expert": str(e), "tokens": n} for layer, counts in load.items() for e, n in counts.items()]
    if not rows:
        return
    chart = (
        alt.Chart(pd.DataFrame(rows))
        .mark_bar()
        .encode(x=alt.X("expert:N", title="expert"), y=alt.Y("tokens:Q"), color="expert:N",
                column=alt.Column("layer:O", title="layer"), tooltip=["layer", "expert", "tokens"])
    )
    where.altair_chart(chart)
    where.dataframe(pd.DataFrame([{"layer": layer, **{f"expert {e}": n for e, n in counts.items()}}
                                  for layer, counts in load.items()]).fillna(0), hide_index=True)


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


def downloads(events: list, key: str, *, container=None) -> None:
    """CSV and JSON export of the routing records."""
    where = container or st
    c1, c2 = where.columns(2)
    c1.download_button("Routing CSV", routing.to_csv(events), file_name="routing.csv", mime="text/csv",
                       key=f"{key}_csv")
    c2.download_button("Routing JSON", routing.to_json(events), file_name="routing.json",
                       mime="application/json", key=f"{key}_json")


def routing_panel(events: list, key: str, *, title: str = "") -> None:
    """Heatmap, load and export for one run."""
    st.caption(f"{len(events)} token-layer records; weights are the router's as given "
               "(Phi-3.5-MoE's sparsemixer weights do not sum to 1).")
    heatmap(events, title=title)
    load_chart(events)
    downloads(events, key)
