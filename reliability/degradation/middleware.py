"""Read-only mode: while the database refuses writes, requests that would write get a 503 that says so.

The ``database_read_only`` condition (``DEGRADATION_READ_ONLY``, or PostgreSQL reporting
itself read-only) decides; the check costs a look at this process's copy of the shared
state. Reads are served as usual. The probes, ``/metrics`` and the admin's login page stay
open, so monitoring and operators can still get in. A webhook refused here is delivered
again by Green API, which is what must happen while nothing can be stored.

This module is named in the settings' ``MIDDLEWARE``; it imports nothing from the models
at import time.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from config.responses import error_response

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_PREFIXES = ("/health/", "/metrics", "/admin/login/")
RETRY_AFTER_SECONDS = 30
MESSAGE = (
    "the service is in read-only mode: the database refuses writes right now, so this request "
    "cannot be carried out; reads still work, try again later"
)


class ReadOnlyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from reliability.degradation.gates import read_only

        self.get_response = get_response
        self.read_only = read_only

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in WRITE_METHODS and not request.path.startswith(OPEN_PREFIXES) and self.read_only():
            response = error_response(request, status=503, message=MESSAGE)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        return self.get_response(request)
