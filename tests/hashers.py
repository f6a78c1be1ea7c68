"""A password hasher for the users the suite creates by the hundred.

Django's PBKDF2 runs a million iterations, about a quarter of a second per user created
or logged in. This one runs one. Its hashes name their algorithm and iteration count
(``pbkdf2_sha256$1$...``), so the servers the tests start, with the stock hashers,
verify them too.
"""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class OneIterationPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    iterations = 1
