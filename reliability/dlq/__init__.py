"""The dead letter queue (DESIGN 6): messages that failed after their retries, kept replayable.

- ``models``: ``DeadLetter``, its ``DeadLetterAttempt`` history, statuses, failure kinds.
- ``services``: every write (add, replay one/batch/many, discard, resolve, cleanup) and
  the seed's ``dlq_handler`` / ``get_failed_message_processor()``; a package with one
  module per concept (``capture``, ``replay``, ``bulk``, ``settle``, ``seed_api``).
- ``selectors``: every read (lists, filters, id snapshots, counts, groups, oldest age).
- ``registry``: replay handlers by ``message_type``; ``classify`` / ``strategies``: what a
  failure is and what happens next; ``claim``: the SKIP LOCKED claim with leases;
  ``ratelimit``, ``locks``, ``metrics``, ``exceptions``.
"""
