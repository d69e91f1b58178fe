"""The signed-in user's own profile: /api/v1/me (scope `profile`) and /api/v1/email (scope `email`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from resource_service.deps import require_scopes
from resource_service.profiles import ProfileCache, ProfileView
from shared.claims import AccessTokenClaims

router = APIRouter(prefix="/api/v1", tags=["profile"])


class Profile(BaseModel):
    id: str
    username: str
    name: str


class EmailAddress(BaseModel):
    email: str
    email_verified: bool


async def _profile(request: Request, claims: AccessTokenClaims) -> ProfileView:
    profiles: ProfileCache = request.app.state.profiles
    profile = await profiles.get(claims.sub)
    if profile is None:
        # A client_credentials token (sub = client id) or a deleted account: no profile here.
        raise HTTPException(status_code=404, detail="no user profile for this token")
    return profile


@router.get("/me", response_model=Profile)
async def me(
    request: Request, claims: Annotated[AccessTokenClaims, Depends(require_scopes("profile"))]
) -> Profile:
    profile = await _profile(request, claims)
    return Profile(id=profile.id, username=profile.username, name=profile.name)


@router.get("/email", response_model=EmailAddress)
async def email(
    request: Request, claims: Annotated[AccessTokenClaims, Depends(require_scopes("email"))]
) -> EmailAddress:
    profile = await _profile(request, claims)
    return EmailAddress(email=profile.email, email_verified=profile.email_verified)
