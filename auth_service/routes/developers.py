"""/developers: people register and manage their own apps (the same rules as RFC 7591)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from auth_service.clients.registry import (
    KEY_METHODS,
    ClientChanges,
    ClientKeys,
    ClientMetadataError,
    ClientSpec,
    delete_client,
    register_client,
    rotate_client_secret,
    update_client,
)
from auth_service.deps import AuditorDep, FormDep, Now, ReposDep, SignedIn, signed_in
from auth_service.oauth.fapi2 import FAPI2
from auth_service.oauth.grants import browser_app_grant_types
from auth_service.repositories import Repositories
from auth_service.web.pages import FORM_EXPIRED, csrf_ok, render, render_form
from shared.models import Client, UserSession
from shared.scopes import SCOPES, format_scope
from shared.tokens import strict_json

router = APIRouter(tags=["pages"], include_in_schema=False)
PORTAL = "/developers"
# An app's pages send a signed-out user back to the app list: only fixed paths of ours go into
# `next` as they are, never a client_id taken from the URL.
PortalUser = Annotated[SignedIn, Depends(signed_in(PORTAL))]
NewAppUser = Annotated[SignedIn, Depends(signed_in(f"{PORTAL}/apps/new"))]
MESSAGES = {
    "deleted": "The app was deleted and every token it held was revoked.",
    "saved": "Saved.",
}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _form_values(form: dict[str, str]) -> dict[str, Any]:
    return {
        "name": form.get("name", "").strip(),
        "homepage_uri": form.get("homepage_uri", "").strip() or None,
        "logo_uri": form.get("logo_uri", "").strip() or None,
        "redirect_uris": _lines(form.get("redirect_uris", "")),
        "post_logout_redirect_uris": _lines(form.get("post_logout_redirect_uris", "")),
        # One checkbox per scope, named scope-<name>, so no parameter repeats.
        "scope": format_scope(name for name in SCOPES if f"scope-{name}" in form),
        "require_par": "require_par" in form,  # RFC 9126 §6
        "fapi2": "fapi2" in form,  # README "The FAPI 2.0 profile"
        "client_type": _client_type(form.get("client_type")),
        # private_key_jwt (RFC 7523 section 2.2): a JWKS URL or the public keys pasted as JSON.
        "jwks_uri": form.get("jwks_uri", "").strip() or None,
        "jwks_text": form.get("jwks", "").strip(),
    }


def _client_type(value: str | None) -> str:
    return value if value in ("public", "keys") else "confidential"


def _portal_keys(values: dict[str, Any]) -> ClientKeys:
    """The keys a private_key_jwt app entered; pasted JSON that does not parse is a form error."""
    jwks = None
    if values["jwks_text"]:
        try:
            jwks = strict_json(values["jwks_text"])
        except ValueError:
            raise ClientMetadataError("the pasted keys are not JSON", field="jwks") from None
    return ClientKeys(jwks=jwks, jwks_uri=values["jwks_uri"])


def _app_form(
    request: Request, session: UserSession, *, values: dict[str, Any], client: Client | None = None,
    error: ClientMetadataError | str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    return render_form(
        request,
        "developer_app.html",
        {
            "title": f"{client.name} settings" if client else "Register an app",
            "client": client,
            "values": values,
            "scopes": list(SCOPES.values()),
            "error": str(error) if error else None,
            "error_field": getattr(error, "field", ""),
        },
        purpose="developers",
        session_hash=session.id_hash,
        status_code=status_code,
    )


def _values_of(client: Client) -> dict[str, Any]:
    return {
        "name": client.name,
        "homepage_uri": client.homepage_uri,
        "logo_uri": client.logo_uri,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "scope": client.scope,
        "client_type": "public" if client.is_public else "confidential",
        "require_par": client.require_pushed_authorization_requests,
        "fapi2": client.profile == FAPI2,
        "jwks_uri": client.jwks_uri,
        "jwks_text": json.dumps(client.jwks, indent=2) if client.jwks else "",
    }


async def _own_app(repos: Repositories, session: UserSession, client_id: str) -> Client | None:
    """The app if this user owns it; someone else's app is as good as missing (404)."""
    client = await repos.clients.get_by_client_id(client_id)
    return client if client is not None and client.owner_id == session.user_id else None


def _not_found(request: Request) -> Response:
    return render(
        request, "error.html",
        {"title": "App not found", "error": "not_found", "description": "There is no such app in your account."},
        status_code=404,
    )  # fmt: skip


def _secret_page(
    request: Request, client: Client, secret: str | None, *, created: bool
) -> Response:
    return render(
        request,
        "developer_secret.html",
        {
            "title": f"{client.name} credentials",
            "client": client,
            "secret": secret,
            "created": created,
        },
    )


@router.get(PORTAL)
async def portal(request: Request, repos: ReposDep, me: PortalUser, message: str = "") -> Response:
    return render(
        request,
        "developers.html",
        {
            "title": "Your apps",
            "apps": await repos.clients.list_owned_by(me.session.user_id),
            "message": MESSAGES.get(message),
        },
    )


@router.get(f"{PORTAL}/apps/new")
async def new_app_form(request: Request, me: NewAppUser) -> Response:
    return _app_form(
        request, me.session, values={"client_type": "confidential", "scope": "openid profile"}
    )


@router.post(f"{PORTAL}/apps")
async def create_app(
    request: Request,
    form: FormDep,
    repos: ReposDep,
    me: NewAppUser,
    audit: AuditorDep,
    now: Now,
) -> Response:
    session = me.session
    values = _form_values(form)
    if not csrf_ok(request, form, purpose="developers", session_hash=session.id_hash):
        return _app_form(request, session, values=values, error=FORM_EXPIRED, status_code=400)
    public = values["client_type"] == "public"
    keyed = values["client_type"] == "keys"
    try:
        keys = _portal_keys(values) if keyed else None
    except ClientMetadataError as error:
        return _app_form(request, session, values=values, error=error, status_code=400)
    spec = ClientSpec(
        name=values["name"],
        redirect_uris=values["redirect_uris"],
        post_logout_redirect_uris=values["post_logout_redirect_uris"],
        scope=values["scope"],
        grant_types=browser_app_grant_types(),
        is_public=public,
        homepage_uri=values["homepage_uri"],
        logo_uri=values["logo_uri"],
        require_pushed_authorization_requests=values["require_par"],
        token_endpoint_auth_method="private_key_jwt" if keyed else None,
        keys=keys,
        profile=FAPI2 if values["fapi2"] else None,
    )
    try:
        registered = await register_client(repos, spec, now=now, owner_id=session.user_id)
    except ClientMetadataError as error:
        return _app_form(request, session, values=values, error=error, status_code=400)
    audit.record(
        "client_registered", user_id=session.user_id, client_id=registered.client.client_id
    )
    return _secret_page(request, registered.client, registered.client_secret, created=True)


@router.get(PORTAL + "/apps/{client_id}")
async def app_settings(
    request: Request, client_id: str, repos: ReposDep, me: PortalUser, message: str = ""
) -> Response:
    session = me.session
    client = await _own_app(repos, session, client_id)
    if client is None:
        return _not_found(request)
    return _app_form(
        request, session, values=_values_of(client), client=client, error=MESSAGES.get(message)
    )


@router.post(PORTAL + "/apps/{client_id}")
async def update_app(
    request: Request, client_id: str, form: FormDep, repos: ReposDep, me: PortalUser,
    audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    session = me.session
    client = await _own_app(repos, session, client_id)
    if client is None:
        return _not_found(request)
    values = _form_values(form)
    if not csrf_ok(request, form, purpose="developers", session_hash=session.id_hash):
        return _app_form(
            request, session, values=values, client=client, error=FORM_EXPIRED, status_code=400
        )
    try:
        keys = _portal_keys(values) if client.token_endpoint_auth_method in KEY_METHODS else None
    except ClientMetadataError as error:
        return _app_form(
            request, session, values=values, client=client, error=error, status_code=400
        )
    changes = ClientChanges(
        name=values["name"],
        redirect_uris=values["redirect_uris"],
        post_logout_redirect_uris=values["post_logout_redirect_uris"],
        scope=values["scope"],
        homepage_uri=values["homepage_uri"] or "",
        logo_uri=values["logo_uri"] or "",
        require_pushed_authorization_requests=values["require_par"],
        keys=keys,
        profile=FAPI2 if values["fapi2"] else "",
    )
    try:
        await update_client(repos, client, changes, now=now)
    except ClientMetadataError as error:  # validated before anything changed
        return _app_form(
            request, session, values=values, client=client, error=error, status_code=400
        )
    audit.record("client_updated", user_id=session.user_id, client_id=client.client_id)
    return RedirectResponse(f"{PORTAL}/apps/{client.client_id}?message=saved", status_code=303)


@router.post(PORTAL + "/apps/{client_id}/rotate-secret")
async def rotate_secret(
    request: Request, client_id: str, form: FormDep, repos: ReposDep, me: PortalUser,
    audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    session = me.session
    client = await _own_app(repos, session, client_id)
    if client is None or client.is_public or client.token_endpoint_auth_method in KEY_METHODS:
        return _not_found(request)  # no secret to rotate: a public app, or one with its own keys
    if not csrf_ok(request, form, purpose="developers", session_hash=session.id_hash):
        return _app_form(
            request,
            session,
            values=_values_of(client),
            client=client,
            error=FORM_EXPIRED,
            status_code=400,
        )
    secret = await rotate_client_secret(repos, client, now=now)
    audit.record("client_secret_rotated", user_id=session.user_id, client_id=client.client_id)
    return _secret_page(request, client, secret, created=False)


@router.post(PORTAL + "/apps/{client_id}/delete")
async def delete_app(
    request: Request, client_id: str, form: FormDep, repos: ReposDep, me: PortalUser,
    audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    session = me.session
    client = await _own_app(repos, session, client_id)
    if client is None:
        return _not_found(request)
    if not csrf_ok(request, form, purpose="developers", session_hash=session.id_hash):
        return _app_form(
            request,
            session,
            values=_values_of(client),
            client=client,
            error=FORM_EXPIRED,
            status_code=400,
        )
    await delete_client(repos, client, now=now)
    audit.record("client_deleted", user_id=session.user_id, client_id=client_id)
    return RedirectResponse(f"{PORTAL}?message=deleted", status_code=303)
