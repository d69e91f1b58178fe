"""Every router of the resource service."""

from __future__ import annotations

from fastapi import APIRouter

from resource_service.routes import me, notes

api_router = APIRouter()
api_router.include_router(me.router)
api_router.include_router(notes.router)
