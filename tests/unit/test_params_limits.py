"""One source of truth for the sampling limits: GenerationParams checks them and the parameter panel offers them."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from services.errors import BadRequest
from services.types import GenerationParams, Limit

LIMITS = GenerationParams.LIMITS


@pytest.mark.parametrize("name", LIMITS)
def test_both_ends_are_accepted_and_a_step_beyond_is_refused(name):
    limit = LIMITS[name]
    for value in (limit.lowest, limit.high):
        assert getattr(GenerationParams(**{name: value}), name) == value
    below = limit.low if limit.low_open else limit.low - limit.step
    for value in (below, limit.high + limit.step):
        with pytest.raises(BadRequest) as err:
            GenerationParams(**{name: value})
        assert err.value.user_message().startswith(f"{name} must be {limit.rule()}")


def test_rules_read_as_sentences():
    assert Limit(0.0, 2.0, 0.05).rule() == "between 0 and 2"
    assert Limit(0.0, 1.0, 0.01, low_open=True).rule() == "> 0 and <= 1"
    assert LIMITS["seed"].rule() == "between 0 and 2147483647"
    with pytest.raises(BadRequest, match=r"top_k must be between 0 and 1000 \(0 turns it off\), not 5000"):
        GenerationParams(top_k=5000)


def panel_page():
    from ui.params_panel import params_panel

    params_panel("lim")


def test_the_panel_offers_exactly_the_ranges_and_steps_of_generation_params():
    at = AppTest.from_function(panel_page, default_timeout=60).run()
    controls = {"temperature": at.slider(key="lim_temperature"), "top_p": at.slider(key="lim_top_p"),
                "top_k": at.number_input(key="lim_top_k"), "max_tokens": at.number_input(key="lim_max_tokens"),
                "repetition_penalty": at.number_input(key="lim_repetition_penalty")}
    for name, control in controls.items():
        limit = LIMITS[name]
        assert (control.min, control.max, control.step) == pytest.approx((limit.lowest, limit.high, limit.step)), name
    # the extremes the panel offers make valid parameters, so no control can build a request the checks refuse
    for name in controls:
        GenerationParams(**{name: LIMITS[name].lowest})
        GenerationParams(**{name: LIMITS[name].high})
