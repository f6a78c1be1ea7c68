"""The development defaults the stand-ins share with the product's settings.

The product never imports ``sandbox`` (and ``sandbox`` never imports Django), so these
values are written twice: here and in ``config/settings.py``'s Messaging block. A test
(``tests/unit/sandbox/test_package.py``) keeps the two copies equal.
"""

from __future__ import annotations

import os

HOST = "127.0.0.1"

GREEN_API_PORT = 8100
DEEPSEEK_PORT = 8200
# The control endpoint listens on its own port so it stays up while the API is "down".
GREEN_API_CONTROL_PORT = 8101
DEEPSEEK_CONTROL_PORT = 8201

GREEN_API_URL = f"http://{HOST}:{GREEN_API_PORT}"
DEEPSEEK_BASE_URL = f"http://{HOST}:{DEEPSEEK_PORT}"

ID_INSTANCE = "1101000001"
INSTANCE_TOKEN = "sandbox-instance-token-0001"
WEBHOOK_TOKEN = "sandbox-webhook-token-0001"
DEEPSEEK_API_KEY = "sk-sandbox-0000000000000000000000"
# The WhatsApp account of the sandbox instance: the sender of every reply.
WID = "79001230000@c.us"

WEBHOOK_PATH = "/api/v1/webhooks/green-api/"


def webhook_url() -> str:
    """Where ``make run``'s web process listens for Green API webhooks (``WEB_PORT``)."""
    port = os.environ.get("WEB_PORT") or "8000"
    return f"http://{HOST}:{port}{WEBHOOK_PATH}"
