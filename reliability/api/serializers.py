"""What the ops API accepts and answers, declared field by field so the published schema is typed.

Request bodies are parsed here; the rules behind each threshold stay in
``reliability.breaker.config`` (``coerce_override`` for the value, ``CircuitBreakerConfig``
for the combination), so the API, the admin and the command refuse the same things.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from reliability.breaker.config import OVERRIDE_FIELDS, SCOPES, coerce_override
from reliability.breaker.models import BreakerState
from reliability.degradation.levels import (
    LEVEL_NAMES,
    DegradationLevel,
    DegradationSource,
    InvalidDuration,
    UnknownLevel,
    duration_parse,
    level_parse,
)
from reliability.degradation.services import REASON_MAX_LENGTH
from reliability.dlq.models import DeadLetterStatus


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=REASON_MAX_LENGTH, default="")


# --- Circuit breakers -----------------------------------------------------------------


class _OverrideField:
    """A threshold in a PATCH body: parsed by ``coerce_override``; null or "" clears the override."""

    def __init__(self, help_text: str) -> None:
        super().__init__(required=False, allow_null=True, help_text=help_text)

    def run_validation(self, data: Any = empty) -> Any:
        if data is empty:
            return super().run_validation(data)
        try:
            return coerce_override(self.field_name, data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class IntegerOverrideField(_OverrideField, serializers.IntegerField):
    pass


class FloatOverrideField(_OverrideField, serializers.FloatField):
    pass


class BreakerThresholdsSerializer(serializers.Serializer):
    """``PATCH /admin/reliability/circuit-breakers/{name}``: the overrides to set or clear, and why."""

    failure_threshold = IntegerOverrideField("consecutive failures that open the breaker")
    failure_rate_threshold = FloatOverrideField("failure rate over the window that opens it (0.5 is 50 %)")
    minimum_requests = IntegerOverrideField("calls the window must hold before the rates count")
    window_size = IntegerOverrideField("the window holds the outcomes of the last N calls")
    recovery_timeout = FloatOverrideField("seconds open before a call may probe")
    success_threshold = IntegerOverrideField("successes in half-open that close it")
    half_open_max_calls = IntegerOverrideField("trial calls admitted at once in half-open")
    timeout = FloatOverrideField("seconds after which a call counts as a failure")
    slow_call_threshold = FloatOverrideField("seconds after which a call counts as slow")
    slow_call_rate_threshold = FloatOverrideField("share of slow calls in the window that opens it")
    max_recovery_timeout = FloatOverrideField("longest open time, in seconds, after repeated reopening")
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=REASON_MAX_LENGTH, default="", help_text="kept in the audit trail"
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Unknown keys would otherwise be dropped without a word: a typo must not look applied.
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["is not an editable circuit breaker threshold"] for name in unknown}
                )
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.keys() - {"reason"}:
            raise serializers.ValidationError(
                f"no threshold to change; give one or more of: {', '.join(OVERRIDE_FIELDS)}"
            )
        return attrs


class BreakerConfigSerializer(serializers.Serializer):
    """The effective thresholds: defaults, then settings, then the admin's overrides."""

    failure_threshold = serializers.IntegerField()
    failure_rate_threshold = serializers.FloatField()
    minimum_requests = serializers.IntegerField()
    window_size = serializers.IntegerField()
    recovery_timeout = serializers.FloatField()
    success_threshold = serializers.IntegerField()
    half_open_max_calls = serializers.IntegerField()
    timeout = serializers.FloatField()
    slow_call_threshold = serializers.FloatField(allow_null=True)
    slow_call_rate_threshold = serializers.FloatField()
    max_recovery_timeout = serializers.FloatField()
    scope = serializers.ChoiceField(choices=SCOPES)


class BreakerOverridesSerializer(serializers.Serializer):
    """Only the thresholds an operator set; absent ones inherit."""

    failure_threshold = serializers.IntegerField(required=False)
    failure_rate_threshold = serializers.FloatField(required=False)
    minimum_requests = serializers.IntegerField(required=False)
    window_size = serializers.IntegerField(required=False)
    recovery_timeout = serializers.FloatField(required=False)
    success_threshold = serializers.IntegerField(required=False)
    half_open_max_calls = serializers.IntegerField(required=False)
    timeout = serializers.FloatField(required=False)
    slow_call_threshold = serializers.FloatField(required=False)
    slow_call_rate_threshold = serializers.FloatField(required=False)
    max_recovery_timeout = serializers.FloatField(required=False)


class BreakerSnapshotSerializer(serializers.Serializer):
    """One breaker's live state. A breaker whose store cannot be read has only ``name`` and ``state`` (unknown)."""

    name = serializers.CharField()
    state = serializers.ChoiceField(choices=[*BreakerState.values, "unknown"])
    scope = serializers.ChoiceField(choices=SCOPES, required=False)
    store = serializers.CharField(required=False, help_text="redis, database, or local (this process's own state)")
    failure_rate = serializers.FloatField(required=False)
    slow_call_rate = serializers.FloatField(required=False)
    consecutive_failures = serializers.IntegerField(required=False)
    calls_in_window = serializers.IntegerField(required=False)
    half_open_calls = serializers.IntegerField(required=False)
    open_until = serializers.DateTimeField(allow_null=True, required=False)
    retry_after = serializers.FloatField(allow_null=True, required=False, help_text="seconds until a call may probe")
    config = BreakerConfigSerializer(required=False)
    overrides = BreakerOverridesSerializer(required=False)
    config_version = serializers.IntegerField(required=False)
    state_changed_at = serializers.DateTimeField(allow_null=True, required=False)


class BreakerListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    circuit_breakers = BreakerSnapshotSerializer(many=True)


class BreakerActionResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    action = serializers.CharField()
    from_state = serializers.ChoiceField(choices=BreakerState.values)
    to_state = serializers.ChoiceField(choices=BreakerState.values)
    circuit_breaker = BreakerSnapshotSerializer()


# --- Dead letters -------------------------------------------------------------------------


class DeadLetterGroupSerializer(serializers.Serializer):
    fingerprint = serializers.CharField()
    message_type = serializers.CharField()
    error_class = serializers.CharField()
    failure_kind = serializers.CharField()
    count = serializers.IntegerField()
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()


class DeadLetterSummarySerializer(serializers.Serializer):
    by_status = serializers.DictField(child=serializers.IntegerField(), help_text="letters per status")
    by_type = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()), help_text="letters per message type and status"
    )
    backlog = serializers.IntegerField(help_text="letters not settled yet")
    oldest_age_seconds = serializers.FloatField(allow_null=True, help_text="age of the oldest unsettled letter")
    groups = DeadLetterGroupSerializer(many=True, help_text="the largest failure groups")
    fingerprint = serializers.CharField(
        allow_null=True, help_text="the full fingerprint the groups were narrowed to (``?fingerprint=``), else null"
    )


class DeadLetterReplayResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="letter_id")
    outcome = serializers.CharField(
        help_text="resolved, failed (retry scheduled), deferred (breaker open), exhausted, ..."
    )
    resolved = serializers.BooleanField()
    status = serializers.ChoiceField(choices=DeadLetterStatus.values)
    next_retry_at = serializers.DateTimeField(allow_null=True)
    error_class = serializers.CharField()
    error_message = serializers.CharField()


class FingerprintCandidateSerializer(serializers.Serializer):
    fingerprint = serializers.CharField(help_text="short form, long enough to tell the candidates apart")
    count = serializers.IntegerField(help_text="letters with this fingerprint")


class FingerprintAmbiguousSerializer(serializers.Serializer):
    """A fingerprint prefix that is malformed, or that several fingerprints start with."""

    detail = serializers.CharField()
    candidates = FingerprintCandidateSerializer(many=True, required=False)


class ErrorSerializer(serializers.Serializer):
    """What ``config.api.api_exception_handler`` answers for a refused request."""

    detail = serializers.CharField()


class DeadLetterConflictSerializer(ErrorSerializer):
    status = serializers.ChoiceField(choices=DeadLetterStatus.values, help_text="the letter's status, which forbids it")


# --- Degradation --------------------------------------------------------------------------


@extend_schema_field({"type": "string", "enum": list(LEVEL_NAMES)})
class DegradationLevelField(serializers.Field):
    """A level by name, parsed by ``level_parse`` (the command and the admin use it too)."""

    def to_internal_value(self, data: Any) -> DegradationLevel:
        try:
            return level_parse(data)
        except UnknownLevel as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value: Any) -> str:
        return DegradationLevel(value).slug


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "number"}]})
class DurationField(serializers.Field):
    """Seconds, or a number with s, m, h or d (``900``, ``30m``, ``2h``), parsed by ``duration_parse``."""

    def to_internal_value(self, data: Any) -> float:
        try:
            return duration_parse(data)
        except InvalidDuration as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value: Any) -> float:
        return float(value)


class _StrictSerializer(serializers.Serializer):
    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # An unknown key (a typo: "expire_in") must not look accepted.
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["is not a field of this request"] for name in unknown})
        return super().to_internal_value(data)


class DegradationSetLevelSerializer(_StrictSerializer):
    """``POST /admin/reliability/degradation/set-level``: from the query string or a JSON body."""

    level = DegradationLevelField(help_text=f"one of: {', '.join(LEVEL_NAMES)}")
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH, help_text="why; kept in the history and audit trail")
    expires_in = DurationField(
        required=False, allow_null=True, help_text="900, 30m, 2h or 1d (at most 30 days); omitted: until cleared"
    )


class DegradationClearSerializer(_StrictSerializer):
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH, help_text="why; kept in the history and audit trail")


class DegradationConditionSerializer(serializers.Serializer):
    met = serializers.BooleanField(allow_null=True, help_text="null: it could not be read")
    level = serializers.ChoiceField(choices=LEVEL_NAMES, help_text="the level the rule raises the system to")
    detail = serializers.CharField()


class DegradationStatusSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=LEVEL_NAMES)
    level_value = serializers.IntegerField(help_text="0 normal ... 4 critical, as in system_degradation_level")
    source = serializers.ChoiceField(choices=DegradationSource.values)
    reason = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True)
    set_by = serializers.CharField(help_text="who set the override ('' when the rules set the level)")
    expires_at = serializers.DateTimeField(allow_null=True, help_text="when the override ends (null: until cleared)")
    auto_level = serializers.ChoiceField(choices=LEVEL_NAMES, help_text="what the rules say, override or not")
    auto_reason = serializers.CharField()
    step_down_level = serializers.ChoiceField(choices=LEVEL_NAMES, allow_null=True)
    step_down_since = serializers.DateTimeField(allow_null=True)
    conditions = serializers.DictField(child=DegradationConditionSerializer())
    evaluated_at = serializers.DateTimeField(allow_null=True)
    read_only = serializers.BooleanField()
    stale = serializers.BooleanField(help_text="neither Redis nor the database answered")
    features = serializers.DictField(child=serializers.BooleanField(), help_text="each gate's answer now")


class DegradationEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    from_level = DegradationLevelField()
    to_level = DegradationLevelField()
    source = serializers.ChoiceField(choices=DegradationSource.values)
    reason = serializers.CharField()
    actor_label = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)


class DegradationReportSerializer(serializers.Serializer):
    degradation = DegradationStatusSerializer()
    events = DegradationEventSerializer(many=True, help_text="the latest changes, newest first")
