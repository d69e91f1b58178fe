"""/developers/resources: people register and manage their own resource servers (RFC 8707),
under the same rules as `auth-service resources`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from auth_service.deps import (
    AuditorDep,
    FormDep,
    Now,
    ReposDep,
    SettingsDep,
    SignedIn,
    signed_in,
)
from auth_service.repositories import Repositories
from auth_service.resource_servers.registry import (
    ReservedIdentifiers,
    ResourceServerError,
    ResourceServerSpec,
    delete_resource_server,
    register_resource_server,
    update_resource_server,
)
from auth_service.web.pages import FORM_EXPIRED, csrf_ok, render, render_form
from shared.models import ResourceServer, UserSession
from shared.scopes import SCOPES, format_scope

router = APIRouter(tags=["pages"], include_in_schema=False)
RESOURCES = "/developers/resources"
# Only fixed paths of ours go into `next`, never an id taken from the URL.
ResourcesUser = Annotated[SignedIn, Depends(signed_in(RESOURCES))]
NewResourceUser = Annotated[SignedIn, Depends(signed_in(f"{RESOURCES}/new"))]
MESSAGES = {
    "deleted": "The resource server was deleted: no new token names it.",
    "saved": "Saved.",
}


def _form_values(form: dict[str, str]) -> dict[str, Any]:
    return {
        "uri": form.get("uri", "").strip(),
        "name": form.get("name", "").strip(),
        # One checkbox per scope, named scope-<name>, as on the app form.
        "scope": format_scope(name for name in SCOPES if f"scope-{name}" in form),
    }


def _values_of(server: ResourceServer) -> dict[str, Any]:
    return {"uri": server.uri, "name": server.name, "scope": server.scope}


def _resource_form(
    request: Request, session: UserSession, *, values: dict[str, Any],
    server: ResourceServer | None = None, error: ResourceServerError | str | None = None,
    notice: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    return render_form(
        request,
        "developer_resource.html",
        {
            "title": f"{server.name} settings" if server else "Register a resource server",
            "server": server,
            "values": values,
            "scopes": list(SCOPES.values()),
            "error": str(error) if error else None,
            "notice": notice,
            "error_field": getattr(error, "field", ""),
        },
        purpose="developers",
        session_hash=session.id_hash,
        status_code=status_code,
    )


async def _own(repos: Repositories, session: UserSession, server_id: str) -> ResourceServer | None:
    """The resource server if this user registered it; anyone else's is as good as missing."""
    server = await repos.resource_servers.get_by_id(server_id) if len(server_id) <= 32 else None
    return server if server is not None and server.owner_id == session.user_id else None


def _not_found(request: Request) -> Response:
    return render(
        request, "error.html",
        {"title": "Resource server not found", "error": "not_found",
         "description": "There is no such resource server in your account."},
        status_code=404,
    )  # fmt: skip


@router.get(RESOURCES)
async def resource_list(
    request: Request, repos: ReposDep, me: ResourcesUser, message: str = ""
) -> Response:
    return render(
        request,
        "developer_resources.html",
        {
            "title": "Your resource servers",
            "servers": await repos.resource_servers.list_owned_by(me.session.user_id),
            "message": MESSAGES.get(message),
        },
    )


@router.get(f"{RESOURCES}/new")
async def new_resource_form(request: Request, me: NewResourceUser) -> Response:
    return _resource_form(request, me.session, values={"scope": ""})


@router.post(RESOURCES)
async def create_resource(
    request: Request, form: FormDep, repos: ReposDep, me: NewResourceUser,
    audit: AuditorDep, now: Now, settings: SettingsDep,
) -> Response:  # fmt: skip
    session = me.session
    values = _form_values(form)
    if not csrf_ok(request, form, purpose="developers", session_hash=session.id_hash):
        return _resource_form(request, session, values=values, error=FORM_EXPIRED, status_code=400)
    spec = ResourceServerSpec(uri=values["uri"], name=values["name"], scopes=[values["scope"]])
    try:
        server = await register_resource_server(
            repos,
            spec,
            now=now,
            owner_id=session.user_id,
            # Our own URLs and the default audience are the operator's (CLI, demo seed).
            reserved=ReservedIdentifiers(settings.issuer, settings.resource_audience),
        )
    except ResourceServerError as error:
        return _resource_form(request, session, values=values, error=error, status_code=400)
    audit.record("resource_server_registered", user_id=session.user_id, resource=server.uri)
    return RedirectResponse(f"{RESOURCES}/{server.id}?message=saved", status_code=303)


@router.get(RESOURCES + "/{server_id}")
async def resource_settings(
    request: Request, server_id: str, repos: ReposDep, me: ResourcesUser, message: str = ""
) -> Response:
    server = await _own(repos, me.session, server_id)
    if server is None:
        return _not_found(request)
    return _resource_form(
        request, me.session, values=_values_of(server), server=server, notice=MESSAGES.get(message)
    )


@router.post(RESOURCES + "/{server_id}")
async def update_resource(
    request: Request, server_id: str, form: FormDep, repos: ReposDep, me: ResourcesUser,
    audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    session = me.session
    server = await _own(repos, session, server_id)
    if server is None:
        return _not_found(request)
    values = {**_form_values(form), "uri": server.uri}  # the identifier stays
    if not csrf_ok(request, form, purpose="developers", session_hash=session.id_hash):
        return _resource_form(
            request, session, values=values, server=server, error=FORM_EXPIRED, status_code=400
        )
    try:
        await update_resource_server(
            repos, server, name=values["name"], scopes=[values["scope"]], now=now
        )
    except ResourceServerError as error:  # validated before anything changed
        return _resource_form(
            request, session, values=values, server=server, error=error, status_code=400
        )
    audit.record("resource_server_updated", user_id=session.user_id, resource=server.uri)
    return RedirectResponse(f"{RESOURCES}/{server.id}?message=saved", status_code=303)


@router.post(RESOURCES + "/{server_id}/delete")
async def delete_resource(
    request: Request, server_id: str, form: FormDep, repos: ReposDep, me: ResourcesUser,
    audit: AuditorDep, now: Now,
) -> Response:  # fmt: skip
    session = me.session
    server = await _own(repos, session, server_id)
    if server is None:
        return _not_found(request)
    if not csrf_ok(request, form, purpose="developers", session_hash=session.id_hash):
        return _resource_form(
            request, session, values=_values_of(server), server=server, error=FORM_EXPIRED,
            status_code=400,
        )  # fmt: skip
    uri = server.uri
    await delete_resource_server(repos, server, now=now)
    audit.record("resource_server_deleted", user_id=session.user_id, resource=uri)
    return RedirectResponse(f"{RESOURCES}?message=deleted", status_code=303)
