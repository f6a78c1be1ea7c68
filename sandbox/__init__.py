"""Local stand-ins for Green API and DeepSeek, for ``make run``, demos and tests.

Standard library only; never imports Django or the product, and the product never
imports it. For tests::

    from sandbox import DeepSeekStandIn, GreenApiStandIn

    with GreenApiStandIn(webhook_url=receiver_url, webhook_token="t", error_rate=0.3, seed=1) as green:
        ...  # point GREEN_API_URL at green.url
        green.control(outage=True)
        assert green.duplicates() == 0

Both bind 127.0.0.1 only (port 0: free ports), switch faults at run time
(``control(...)`` or ``POST /_sandbox/control``) and report what they received
(``stats()``, ``requests()``). From a shell: ``python -m sandbox serve | control | play``.
"""

from sandbox.deepseek import DeepSeekStandIn, sentiment_of
from sandbox.green_api import GreenApiStandIn
from sandbox.switches import SwitchError

__all__ = ["DeepSeekStandIn", "GreenApiStandIn", "SwitchError", "sentiment_of"]
