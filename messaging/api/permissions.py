"""Who may call the messaging API: authenticated users holding the model permission of the act.

Unlike DRF's ``DjangoModelPermissions``, reading needs ``view_<model>`` too: outbound
texts and trigger templates are customer data, not public to every account.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission, DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.views import APIView


class ModelPermissions(DjangoModelPermissions):
    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: Request, view: APIView) -> bool:
        allowed = super().has_permission(request, view)
        if not allowed and request.method in self.perms_map:
            # A new instance per request: the message names what this request lacked.
            model = self._queryset(view).model
            self.message = f"needs the permission(s): {', '.join(self.get_required_permissions(request.method, model))}"
        return allowed


def has_perms(*perms: str) -> type[BasePermission]:
    """A permission class requiring an authenticated user with every ``app_label.codename`` in ``perms``."""

    class HasPermissions(BasePermission):
        message = f"needs the permission(s): {', '.join(perms)}"

        def has_permission(self, request: Request, view: APIView) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and user.has_perms(perms))

    return HasPermissions
