"""Request shapes: strict form/query parsing and the typed token request (RFC 6749 §3.1, §3.2).

Duplicated parameters are refused (RFC 6749 §3.1); Starlette would silently keep the last one.
Parameters sent without a value are treated as omitted (RFC 6749 §3.1).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auth_service.security.passwords import MAX_PASSWORD_LENGTH
from shared.errors import InvalidRequestError
from shared.input_guard import is_clean_text

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 64
MAX_VALUE_LENGTH = 4096


class DuplicateParameterError(InvalidRequestError):
    def __init__(self, name: str) -> None:
        super().__init__(f"parameter {_printable(name)} was sent more than once")
        self.name = name


def _printable(name: str) -> str:
    return name if name.isascii() and name.isprintable() and len(name) <= 40 else "(unprintable)"


def unique_params(items: Iterable[tuple[str, str]]) -> tuple[dict[str, str], frozenset[str]]:
    """Map of single-valued, non-empty parameters, plus the names that were repeated."""
    params: dict[str, str] = {}
    seen: set[str] = set()
    repeated: set[str] = set()
    for name, value in items:
        if name in seen:
            repeated.add(name)
        seen.add(name)
        if value != "":
            params[name] = value
    for name in repeated:
        params.pop(name, None)
    return params, frozenset(repeated)


def take_repeatable(
    items: Iterable[tuple[str, str]], name: str
) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
    """The other items, and the values of `name`, a parameter the protocol lets a client repeat
    (RFC 8707 §2 `resource`); values sent empty count as omitted (RFC 6749 §3.1)."""
    rest: list[tuple[str, str]] = []
    values: list[str] = []
    for item in items:
        if item[0] == name:
            if item[1] != "":
                values.append(item[1])
        else:
            rest.append(item)
    return rest, tuple(values)


def require_unique(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    params, repeated = unique_params(items)
    if repeated:
        raise DuplicateParameterError(sorted(repeated)[0])
    return params


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """Parse an urlencoded body once, with the standard library, refusing anything ambiguous."""
    return require_unique(parse_form_items(body, content_type))


def parse_form_items(body: bytes, content_type: str | None) -> list[tuple[str, str]]:
    """The (name, value) pairs of an urlencoded body, in order, repeats included."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        raise InvalidRequestError(f"the request body must be {FORM_CONTENT_TYPE}")
    try:
        text = body.decode("utf-8")
        items = parse_qsl(
            text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict", separator="&"
        )
    except ValueError:  # includes UnicodeDecodeError and too many fields
        raise InvalidRequestError("the request body is not valid UTF-8 form data") from None
    if any(len(value) > MAX_VALUE_LENGTH for _, value in items):
        raise InvalidRequestError("a parameter value is too long")
    if not all(is_clean_text(name) and is_clean_text(value) for name, value in items):
        raise InvalidRequestError("the request body is not valid UTF-8 text")
    return items


class TokenRequest(BaseModel):
    """The parameters of any grant at the token endpoint; unknown ones are ignored (RFC 6749 §3.2)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    grant_type: str = Field(max_length=200)
    code: str | None = Field(default=None, max_length=512)
    redirect_uri: str | None = Field(default=None, max_length=2000)
    code_verifier: str | None = Field(default=None, max_length=128)
    refresh_token: str | None = Field(default=None, max_length=512)
    scope: str | None = Field(default=None, max_length=1000)
    username: str | None = Field(default=None, max_length=254)
    password: str | None = Field(default=None, max_length=MAX_PASSWORD_LENGTH)
    # RFC 8707 §2.2: the `resource` values, as sent (the grant allows at most one).
    resources: tuple[str, ...] = ()
    device_code: str | None = Field(default=None, max_length=512)  # RFC 8628 §3.4
    # RFC 8693 §2.1 token exchange; `resource` comes in `resources` (RFC 8707 §2).
    subject_token: str | None = Field(default=None, max_length=MAX_VALUE_LENGTH)
    subject_token_type: str | None = Field(default=None, max_length=200)
    actor_token: str | None = Field(default=None, max_length=MAX_VALUE_LENGTH)
    actor_token_type: str | None = Field(default=None, max_length=200)
    requested_token_type: str | None = Field(default=None, max_length=200)
    audience: str | None = Field(default=None, max_length=2000)

    @classmethod
    def from_form(cls, form: dict[str, str], resources: tuple[str, ...] = ()) -> TokenRequest:
        if "grant_type" not in form:
            raise InvalidRequestError("grant_type is required")
        try:
            return cls.model_validate({**form, "resources": resources})
        except ValidationError as exc:
            field = ".".join(str(part) for part in exc.errors()[0]["loc"]) or "request"
            raise InvalidRequestError(f"parameter {field} is invalid") from None


def parse_json_object(body: bytes, content_type: str | None) -> dict[str, Any]:
    """A JSON object body (RFC 7591 §3.1); anything else, however deep or odd, is invalid_request."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise InvalidRequestError("the request body must be application/json")
    try:
        data = json.loads(body.decode("utf-8"))
    except (
        ValueError,
        RecursionError,
    ):  # includes UnicodeDecodeError; RecursionError: deep nesting
        raise InvalidRequestError("the request body is not valid UTF-8 JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    if not _clean_json(data):
        raise InvalidRequestError("the request body holds text that is not valid UTF-8")
    return data


def _clean_json(value: Any) -> bool:
    """Every string in `value` (keys too) is clean text; JSON allows NUL and lone surrogates."""
    if isinstance(value, str):
        return is_clean_text(value)
    if isinstance(value, dict):
        return all(_clean_json(k) and _clean_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_clean_json(item) for item in value)
    return True
