from __future__ import annotations

import pytest

from reliability.degradation import allows
from reliability.degradation.config import UnknownFeature
from reliability.degradation.gates import features_allowed


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (0, {"ai_sentiment": True, "reports": True, "auto_replies": True, "outbound_sending": True}),
        (1, {"ai_sentiment": False, "reports": True, "auto_replies": True, "outbound_sending": True}),
        (2, {"ai_sentiment": False, "reports": False, "auto_replies": True, "outbound_sending": True}),
        (3, {"ai_sentiment": False, "auto_replies": False, "outbound_sending": False, "webhook_processing": True}),
        (4, {"outbound_sending": False, "webhook_processing": False}),
    ],
)
def test_the_default_matrix_says_up_to_which_level_each_feature_runs(at_level, level, expected):
    at_level(level)
    assert {feature: allows(feature) for feature in expected} == expected


@pytest.mark.parametrize("feature", ["ai_sentimnet", "", None, ["reports"]])
def test_an_unknown_feature_is_a_programming_error(at_level, feature):
    at_level(0)
    with pytest.raises(UnknownFeature, match="no degradation feature gate named"):
        allows(feature)


def test_a_changed_matrix_is_used_at_once(at_level, settings):
    at_level(2)
    settings.DEGRADATION_FEATURES = {"exports": "severe"}
    assert allows("exports") is True
    assert features_allowed(4) == {"exports": False}


def test_allows_now_confirms_a_closed_gate_against_the_shared_state(at_level):
    from reliability.degradation.gates import allows_now
    from reliability.degradation.state import LevelState
    from reliability.degradation.store import view

    at_level(3)
    assert allows("outbound_sending") is False
    # The shared state drops to normal; this process's copy is still fresh and says severe.
    view._read = lambda: (LevelState(level=0), True)
    assert allows("outbound_sending") is False
    assert allows_now("outbound_sending") is True
    assert allows("outbound_sending") is True, "the copy was refreshed"


def test_allows_now_answers_an_open_gate_from_the_copy(at_level):
    from reliability.degradation.gates import allows_now
    from reliability.degradation.store import view

    at_level(0)
    allows("outbound_sending")
    view._read = lambda: pytest.fail("an open gate must not read the shared store")
    assert allows_now("outbound_sending") is True
