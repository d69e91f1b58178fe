"""Creating user accounts (admin CLI now; sign-up reuses it)."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from auth_service.repositories import Repositories
from auth_service.repositories.users import normalize_email
from auth_service.security.passwords import MAX_PASSWORD_LENGTH, PasswordHasher
from shared.models import User

USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
EMAIL_PATTERN = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}")
MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A user-facing reason why an account cannot be created as asked."""


def account_problems(username: str, email: str, password: str) -> list[str]:
    problems = []
    name = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(name):
        problems.append(
            "Username must be 3-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    email_problem = profile_problems(email)
    if email_problem is not None:
        problems.append(email_problem)
    password_problem = _password_problem(password, username=name, email=email)
    if password_problem is not None:
        problems.append(password_problem)
    return problems


def profile_problems(email: str) -> str | None:
    # Format characters (Unicode Cf: zero-width joiners, bidi overrides, soft hyphens) and
    # controls are invisible, so an address holding one would look like another person's.
    if any(unicodedata.category(ch) in ("Cf", "Cc") for ch in email):
        return "Email address is not valid."
    email = normalize_email(email)
    if len(email) > 254 or not EMAIL_PATTERN.fullmatch(email):
        return "Email address is not valid."
    return None


def _password_problem(password: str, *, username: str, email: str) -> str | None:
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Password must be at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Password must be at most {MAX_PASSWORD_LENGTH} characters."
    if password.strip().lower() in (username.strip().lower(), email.strip().lower()):
        return "Password must not be your username or email address."
    return None


def password_problems(password: str, *, username: str, email: str) -> None:
    """Raise AccountError when `password` may not be a new password for this account."""
    problem = _password_problem(password, username=username, email=email)
    if problem is not None:
        raise AccountError(problem)


async def create_user(
    repos: Repositories,
    hasher: PasswordHasher,
    *,
    username: str,
    email: str,
    password: str,
    name: str,
    now: datetime,
) -> User:
    problems = account_problems(username, email, password)
    if problems:
        raise AccountError(" ".join(problems))
    taken = AccountError("That username or email address is already registered.")
    if await repos.users.get_by_username(username) or await repos.users.get_by_email(email):
        raise taken
    password_hash = await hasher.hash(password)
    try:
        # A savepoint: if a concurrent sign-up took the name meanwhile, the unique constraint
        # fails this insert alone and the request can still answer.
        async with repos.session.begin_nested():
            return await repos.users.add(
                username=username, email=email, name=name.strip()[:200],
                password_hash=password_hash, now=now,
            )  # fmt: skip
    except IntegrityError:
        raise taken from None
