"""Create (or reset) the development-only admin user that `make run` prints.

A fresh random password on every run means a leaked terminal scroll-back is worth
nothing tomorrow; the command refuses to run in production.
"""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create or reset the development admin user and print its credentials."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        if settings.APP_ENV == "production":
            raise CommandError("refusing to create a demo admin user with APP_ENV=production")
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": f"{username}@localhost"})
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        port = os.environ.get("WEB_PORT", "8000")
        self.stdout.write(
            f"\n  Admin:      http://127.0.0.1:{port}/admin/\n"
            f"  Username:   {username}\n"
            f"  Password:   {password}\n"
            "  (development only; a new password is set on every `make run`)\n"
        )
