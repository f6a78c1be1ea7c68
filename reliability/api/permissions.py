"""Who may call the ops API: staff, and for each action the matching model permission.

The API schema is for API clients too: ``IsStaffOrApiToken`` admits staff and any
caller authenticated with an API token.
"""

from __future__ import annotations

from rest_framework.authtoken.models import Token
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


class IsStaff(BasePermission):
    message = "staff only"

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)


class IsStaffOrApiToken(IsStaff):
    message = "needs a staff session or 'Authorization: Token <key>'"

    def has_permission(self, request: Request, view: APIView) -> bool:
        return super().has_permission(request, view) or isinstance(request.auth, Token)


def staff_with(*perms: str) -> type[BasePermission]:
    """A permission class requiring staff status plus every ``app_label.codename`` in ``perms``."""

    class StaffWithPermissions(IsStaff):
        message = f"needs staff status and the permission(s): {', '.join(perms)}"

        def has_permission(self, request: Request, view: APIView) -> bool:
            return super().has_permission(request, view) and request.user.has_perms(perms)

    return StaffWithPermissions
