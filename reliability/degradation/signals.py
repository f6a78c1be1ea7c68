"""``degradation_level_changed``: the hook for work held back while the level was high.

Sent once per change of the level, in the process that made the change (the monitor's
worker, the web process of an operator's request, the shell of a command), after the
transaction that recorded it committed. Keyword arguments:

- ``old_level``, ``new_level``: ``DegradationLevel`` (ints, so ``new_level < old_level``
  says the level dropped);
- ``source``: ``"auto"`` or ``"operator"``;
- ``reason``: why, as recorded in the history;
- ``event_id``: the ``DegradationEvent`` row, or None when the database could not take it.

Receivers must be quick (enqueue a task, do not do the work): they run in the process
that changed the level, and an exception in one is logged, not raised, so it cannot undo
a change that has already happened.
"""

from __future__ import annotations

from django.dispatch import Signal

degradation_level_changed = Signal()
