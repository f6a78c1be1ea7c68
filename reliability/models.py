"""Model registry for the app; each concept keeps its models in its own package."""

from reliability.audit import AuditRecord
from reliability.breaker.models import BreakerState, BreakerTransition, CircuitBreaker, TransitionReason
from reliability.degradation.models import DegradationEvent, DegradationState
from reliability.dlq.models import DeadLetter, DeadLetterAttempt, DeadLetterStatus, FailureKind
from reliability.reports.models import ReliabilityReport

__all__ = [
    "AuditRecord",
    "BreakerState",
    "BreakerTransition",
    "CircuitBreaker",
    "DeadLetter",
    "DeadLetterAttempt",
    "DeadLetterStatus",
    "DegradationEvent",
    "DegradationState",
    "FailureKind",
    "ReliabilityReport",
    "TransitionReason",
]
