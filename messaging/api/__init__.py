"""The public messaging API under ``/api/v1/``: messages, sentiment and triggers.

Token authentication (``Authorization: Token <key>``) or an admin session; each endpoint
needs the model permission of what it does. Views are thin doors: validation is in
``messaging.clients.validation`` and ``messaging.services.triggers``, the work in the services.
"""
