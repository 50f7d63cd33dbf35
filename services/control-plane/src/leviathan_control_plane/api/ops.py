"""Liveness, readiness and Prometheus metrics (no token needed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from leviathan_control_plane.api.services import Services, get_services
from leviathan_control_plane.models import ErrorBody, Health, Readiness

router = APIRouter(tags=["operations"])
ServicesDep = Annotated[Services, Depends(get_services)]


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": ErrorBody, "description": "Database not reachable"}},
    summary="The database answers",
)
def readyz(services: ServicesDep) -> Readiness | JSONResponse:
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        detail = f"database not reachable: {type(exc).__name__}"
        return JSONResponse(ErrorBody(detail=detail).model_dump(), status_code=503)
    return Readiness(status="ready", database=services.engine.dialect.name)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={
        200: {
            "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            "description": "Prometheus text format",
        }
    },
)
def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
