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
