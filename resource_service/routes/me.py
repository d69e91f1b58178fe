"""The signed-in user's own profile: /api/v1/me (scope `profile`) and /api/v1/email (scope `email`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from resource_service.deps import SessionDep, require_scopes
from resource_service.repositories.profiles import ProfileRepository
from shared.claims import AccessTokenClaims
from shared.models import User

router = APIRouter(prefix="/api/v1", tags=["profile"])


class Profile(BaseModel):
    id: str
    username: str
    name: str


class EmailAddress(BaseModel):
    email: str
    email_verified: bool


async def _user(session: SessionDep, claims: AccessTokenClaims) -> User:
    user = await ProfileRepository(session).get_by_id(claims.sub)
    if user is None:
        # A client_credentials token (sub = client id) or a deleted account: no profile here.
        raise HTTPException(status_code=404, detail="no user profile for this token")
    return user


@router.get("/me", response_model=Profile)
async def me(
    session: SessionDep, claims: Annotated[AccessTokenClaims, Depends(require_scopes("profile"))]
) -> Profile:
    user = await _user(session, claims)
    return Profile(id=user.id, username=user.username, name=user.name)


@router.get("/email", response_model=EmailAddress)
async def email(
    session: SessionDep, claims: Annotated[AccessTokenClaims, Depends(require_scopes("email"))]
) -> EmailAddress:
    user = await _user(session, claims)
    return EmailAddress(email=user.email, email_verified=user.email_verified)
