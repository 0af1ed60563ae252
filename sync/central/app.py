"""The central's HTTP API (FastAPI). Stateless: every request reads and writes the database only.

Request bodies are read with a size limit and decoded by hand rather than by FastAPI's pydantic
binding, so a 1,000-event push is checked with dict checks (see ingest.py); the OpenAPI schema
still describes them from the models in ``sync.protocol``.
"""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from typing import Annotated

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from sync.clock import Clock
from sync.events import describe_validation
from sync.protocol import (
    INVALID_REQUEST,
    MALFORMED_JSON,
    MAX_BODY_BYTES,
    TOO_LARGE,
    CentralKeys,
    EnrollRequest,
    EnrollResponse,
    ErrorBody,
    Health,
    PullResponse,
    PushRequest,
    PushResponse,
)

from . import enroll as trust
from .db import CentralDB
from .errors import Refused
from .ingest import ingest, parse_push
from .metrics import CONTENT_TYPE, CentralMetrics
from .queries import PULL_LIMIT, pull_page

_ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 403, 409, 413, 422, 503)}


def _inline(model) -> dict:
    """A model's JSON schema with its $defs inlined, for an OpenAPI request body."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref and ref.startswith("#/$defs/"):
                return resolve(defs[ref.split("/")[-1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)


def _body_doc(model) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": _inline(model)}}}}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or Refused(413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refused(413, TOO_LARGE, f"The request is larger than {limit} bytes; send smaller batches.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, TOO_LARGE, f"The request is larger than {limit} bytes; send smaller batches.")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(raw: bytes):
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise Refused(400, MALFORMED_JSON, f"The body is not JSON ({err}).") from None


@contextmanager
def gc_paused():
    """Hold off the cyclic garbage collector while a batch is decoded and ingested.

    A 1,000-event batch makes some 50,000 containers; the collector's passes over them cost twice
    the decoding itself. None of them form cycles, so reference counting frees them all anyway.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def take_push(db: CentralDB, device, raw: bytes, clock: Clock):
    with gc_paused():
        return ingest(db, device, parse_push(decode_json(raw)), clock)


def app_from_env() -> FastAPI:
    """The app for a ``tideover-central serve`` worker: database URL and body limit from the environment."""
    import os

    from .db import ENV_DB

    db = CentralDB(os.environ[ENV_DB])
    return create_app(db, max_body=int(os.environ.get("TIDEOVER_CENTRAL_MAX_BODY", MAX_BODY_BYTES)))


def create_app(db: CentralDB, *, max_body: int = MAX_BODY_BYTES, clock: Clock | None = None) -> FastAPI:
    """The API on ``db`` (migrated already). ``max_body`` bounds every request body."""
    clock = clock or Clock()
    keys = trust.load_keys(db, clock)
    metrics = CentralMetrics(db, clock)
    app = FastAPI(title="Tideover central", version="1", description="The central canonical event store.")
    app.state.db, app.state.metrics = db, metrics

    @app.exception_handler(Refused)
    async def _refused(_request, err: Refused):
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": INVALID_REQUEST, "detail": f"{where}: {first.get('msg', 'invalid')}"},
                            status_code=422)

    @app.exception_handler(sa.exc.OperationalError)
    async def _db_down(_request, _err):
        return JSONResponse({"error": "unavailable", "detail": "The central database is unavailable; retry."},
                            status_code=503)

    @app.post("/v1/enroll", response_model=EnrollResponse, responses=_ERRORS, openapi_extra=_body_doc(EnrollRequest))
    async def enroll_device(request: Request):
        """Spend a one-time token: register the device's public key and get its credential."""
        raw = await read_body(request, 64 * 1024)
        try:
            req = EnrollRequest.model_validate(decode_json(raw))
        except ValidationError as err:
            raise Refused(422, INVALID_REQUEST, describe_validation(err).removeprefix("Invalid event: ")) from None
        answer = await run_in_threadpool(trust.enroll, db, req, keys, clock)
        return JSONResponse(answer.model_dump())

    @app.post("/v1/push", response_model=PushResponse, responses=_ERRORS, openapi_extra=_body_doc(PushRequest))
    async def push(request: Request, authorization: Annotated[str | None, Header()] = None):
        """Push up to 1,000 events with a checkpoint signed over the last; one answer per event."""
        started = time.perf_counter()
        device = await run_in_threadpool(trust.authenticate, db, authorization)
        raw = await read_body(request, max_body)
        try:
            outcome = await run_in_threadpool(take_push, db, device, raw, clock)
        except Refused as err:
            metrics.refused.labels(err.code).inc()
            raise
        metrics.count(outcome.counts)
        metrics.push_seconds.observe(time.perf_counter() - started)
        return Response(orjson.dumps(outcome.response()), media_type="application/json")

    @app.get("/v1/pull", response_model=PullResponse, responses=_ERRORS)
    def pull(after: Annotated[int, Query(ge=0, le=2 ** 62)] = 0,
             limit: Annotated[int, Query(ge=1, le=PULL_LIMIT)] = PULL_LIMIT,
             authorization: Annotated[str | None, Header()] = None):
        """The unit's shared events from other devices after the cursor ``after``."""
        device = trust.authenticate(db, authorization)
        return Response(pull_page(db, device, after, limit), media_type="application/json")

    @app.get("/v1/central-keys", response_model=CentralKeys)
    def central_keys():
        """The central's public keys: bundles are encrypted to one, receipts verify with the other."""
        return keys.public()

    @app.get("/healthz", response_model=Health)
    def healthz():
        """The process is up."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, responses={503: {"model": Health}})
    def readyz():
        """The database answers and its schema is at the newest migration."""
        try:
            current = db.schema_current()
        except sa.exc.SQLAlchemyError as err:
            return JSONResponse(Health(status="unavailable", detail=type(err).__name__).model_dump(),
                                status_code=503)
        if not current:
            return JSONResponse(Health(status="unavailable", detail="migrations pending").model_dump(),
                                status_code=503)
        return Health(status="ready")

    @app.get("/metrics", response_class=Response)
    def prometheus_metrics():
        """Prometheus text format."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return app
