"""The central's HTTP API (FastAPI). Stateless: every request reads and writes the database only.

Request bodies are read with a size limit and decoded by hand rather than by FastAPI's pydantic
binding, so a 1,000-event push is checked with dict checks (see ingest.py); the OpenAPI schema
still describes them from the models in ``sync.protocol``.
"""

from __future__ import annotations

import gc
import hmac
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

from sync.answers import (
    DIGEST_HEADER,
    NONCE_HEADER,
    NOT_READ,
    SIGNATURE_HEADER,
    request_digest,
    sign_answer,
    valid_nonce,
)
from sync.clock import Clock
from sync.errors import TideoverError
from sync.events import describe_validation
from sync.protocol import (
    INVALID_REQUEST,
    MALFORMED_JSON,
    MAX_BODY_BYTES,
    RATE_LIMITED,
    TOO_LARGE,
    CentralKeys,
    EnrollRequest,
    EnrollResponse,
    ErrorBody,
    Health,
    OwnEventsResponse,
    PullResponse,
    PushRequest,
    PushResponse,
    SetAsideRequest,
    SetAsideResponse,
)

from . import enroll as trust
from . import setaside
from .db import CentralDB
from .errors import HTTP_STATUS, Malformed, NotHere, Refused, TooLarge, Unprocessable, http_status
from .ingest import ingest, parse_push
from .metrics import CONTENT_TYPE, CentralMetrics
from .queries import PULL_LIMIT, own_events_page, pull_page
from .ratelimit import ENROLL_RATE, ENROLL_RATE_GLOBAL, EnrollLimiter

EMPTY_DIGEST = request_digest(b"")
_ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 403, 409, 413, 422, 429, 503)}
ENV_METRICS_TOKEN = "TIDEOVER_METRICS_TOKEN"
ENV_DOCS = "TIDEOVER_CENTRAL_DOCS"
ENV_ENROLL_RATE, ENV_ENROLL_RATE_GLOBAL = "TIDEOVER_CENTRAL_ENROLL_RATE", "TIDEOVER_CENTRAL_ENROLL_RATE_GLOBAL"


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
    """The request body, or TooLarge (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(TOO_LARGE, f"The request is larger than {limit} bytes; send smaller batches.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(TOO_LARGE, f"The request is larger than {limit} bytes; send smaller batches.")
        chunks.append(chunk)
    body = b"".join(chunks)
    request.state.body_digest = request_digest(body)  # what the signed answer is bound to
    return body


def answer_target(request: Request) -> str:
    """The API path and raw query of a request as the central received them (without a proxy's root path)."""
    path, root = request.scope.get("path", ""), request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    query = request.scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


def signed_answer(request: Request, key, body: bytes, status: int = 200) -> Response:
    """``body`` as the answer to ``request``, signed with the central's key (see sync/answers.py)."""
    nonce = valid_nonce(request.headers.get(NONCE_HEADER))
    digest = getattr(request.state, "body_digest", NOT_READ)
    signature = sign_answer(key, status, request.method, answer_target(request), nonce, digest, body)
    return Response(body, status_code=status, media_type="application/json",
                    headers={DIGEST_HEADER: digest, SIGNATURE_HEADER: signature})


def decode_json(raw: bytes):
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise Malformed(MALFORMED_JSON, f"The body is not JSON ({err}).") from None


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
    """The app for a ``tideover-central serve`` worker: its settings from the environment."""
    import os

    from .db import ENV_DB

    db = CentralDB(os.environ[ENV_DB])
    return create_app(db, max_body=int(os.environ.get("TIDEOVER_CENTRAL_MAX_BODY", MAX_BODY_BYTES)),
                      metrics_token=os.environ.get(ENV_METRICS_TOKEN) or None,
                      docs=os.environ.get(ENV_DOCS) == "1",
                      enroll_rate=os.environ.get(ENV_ENROLL_RATE) or ENROLL_RATE,
                      enroll_rate_global=os.environ.get(ENV_ENROLL_RATE_GLOBAL) or ENROLL_RATE_GLOBAL)


def create_app(db: CentralDB, *, max_body: int = MAX_BODY_BYTES, clock: Clock | None = None,
               metrics_token: str | None = None, docs: bool = False, enroll_rate: str = ENROLL_RATE,
               enroll_rate_global: str = ENROLL_RATE_GLOBAL) -> FastAPI:
    """The API on ``db`` (migrated already). ``max_body`` bounds every request body.

    ``/metrics`` answers only a ``Bearer <metrics_token>`` (and is off without one); the OpenAPI
    schema and its pages are served only with ``docs``; ``/v1/enroll`` is limited to ``enroll_rate``
    per client address and ``enroll_rate_global`` in all (``limits`` notation, e.g. "10/minute").
    """
    clock = clock or Clock()
    keys = trust.load_keys(db, clock)
    metrics = CentralMetrics(db, clock)
    limiter = EnrollLimiter(enroll_rate, enroll_rate_global)
    app = FastAPI(title="Tideover central", version="1", description="The central canonical event store.",
                  docs_url="/docs" if docs else None, redoc_url="/redoc" if docs else None,
                  openapi_url="/openapi.json" if docs else None)
    app.state.db, app.state.metrics = db, metrics

    def answer(request: Request, body: dict | bytes, status: int = 200) -> Response:
        return signed_answer(request, keys.signing_private,
                             body if isinstance(body, bytes) else orjson.dumps(body), status)

    @app.exception_handler(TideoverError)
    async def _refused(request, err: TideoverError):
        """Every error the central raises on purpose, answered by its kind (sync.central.errors.HTTP_STATUS)."""
        body = err.body() if isinstance(err, Refused) else {"error": err.kind, "detail": str(err)}
        return answer(request, body, http_status(err))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return answer(request, {"error": INVALID_REQUEST, "detail": f"{where}: {first.get('msg', 'invalid')}"},
                      HTTP_STATUS["unprocessable"])

    @app.exception_handler(sa.exc.OperationalError)
    async def _db_down(request, _err):
        return answer(request, {"error": "unavailable", "detail": "The central database is unavailable; retry."},
                      HTTP_STATUS["unavailable"])

    @app.post("/v1/enroll", response_model=EnrollResponse, responses=_ERRORS, openapi_extra=_body_doc(EnrollRequest))
    async def enroll_device(request: Request):
        """Spend a one-time token: register the device's public key and get its credential."""
        address = request.client.host if request.client else "unknown"
        wait = limiter.refuse(address)
        if wait:
            metrics.enroll_refused.labels(RATE_LIMITED).inc()
            return JSONResponse({"error": RATE_LIMITED, "detail": f"Too many enrollment attempts; retry in "
                                                                  f"{wait} s."},
                                status_code=HTTP_STATUS["rate_limited"], headers={"Retry-After": str(wait)})
        try:
            raw = await read_body(request, 64 * 1024)
            try:
                req = EnrollRequest.model_validate(decode_json(raw))
            except ValidationError as err:
                raise Unprocessable(INVALID_REQUEST,
                              describe_validation(err).removeprefix("Invalid event: ")) from None
            enrolled = await run_in_threadpool(trust.enroll, db, req, keys, clock, by=f"token from {address}")
        except Refused as err:
            metrics.enroll_refused.labels(err.code).inc()
            raise
        return JSONResponse(enrolled.model_dump())

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
        reply = answer(request, orjson.dumps(outcome.response()))
        metrics.push_seconds.observe(time.perf_counter() - started)
        return reply

    @app.get("/v1/pull", response_model=PullResponse, responses=_ERRORS)
    def pull(request: Request, after: Annotated[int, Query(ge=0, le=2 ** 62)] = 0,
             limit: Annotated[int, Query(ge=1, le=PULL_LIMIT)] = PULL_LIMIT,
             authorization: Annotated[str | None, Header()] = None):
        """The unit's shared events from other devices after the cursor ``after``."""
        request.state.body_digest = EMPTY_DIGEST
        device = trust.authenticate(db, authorization)
        return answer(request, pull_page(db, device, after, limit))

    @app.get("/v1/own-events", response_model=OwnEventsResponse, responses=_ERRORS)
    def own_events(request: Request, after: Annotated[int, Query(ge=0, le=2 ** 62)] = 0,
                   limit: Annotated[int, Query(ge=1, le=PULL_LIMIT)] = PULL_LIMIT,
                   authorization: Annotated[str | None, Header()] = None):
        """The central's copy of the calling device's own chain after seq ``after`` (restore from backup)."""
        request.state.body_digest = EMPTY_DIGEST
        device = trust.authenticate(db, authorization)
        return answer(request, own_events_page(db, device, after, limit))

    @app.post("/v1/set-aside", response_model=SetAsideResponse, responses=_ERRORS,
              openapi_extra=_body_doc(SetAsideRequest))
    async def set_aside(request: Request, authorization: Annotated[str | None, Header()] = None):
        """Pulled events this workstation could not take (it set them aside and pulls on); IT sees
        them in `tideover-central set-aside list` and `verify`."""
        device = await run_in_threadpool(trust.authenticate, db, authorization)
        reports = setaside.parse_reports(decode_json(await read_body(request, 1024 * 1024)))
        recorded = await run_in_threadpool(setaside.record_reports, db, device, reports, clock)
        return JSONResponse({"recorded": recorded})

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
                                status_code=HTTP_STATUS["unavailable"])
        if not current:
            return JSONResponse(Health(status="unavailable", detail="migrations pending").model_dump(),
                                status_code=HTTP_STATUS["unavailable"])
        return Health(status="ready")

    @app.get("/metrics", response_class=Response, responses=_ERRORS)
    def prometheus_metrics(authorization: Annotated[str | None, Header()] = None):
        """Prometheus text format, for ``Authorization: Bearer <metrics token>`` only."""
        if metrics_token is None:
            raise NotHere("metrics_off", "Metrics are off: start the central with --metrics-token "
                                              "(or TIDEOVER_METRICS_TOKEN) and scrape with that bearer token.")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), metrics_token.encode()):
            return JSONResponse({"error": "unauthorized", "detail": "The metrics token is missing or wrong."},
                                status_code=HTTP_STATUS["unauthenticated"], headers={"WWW-Authenticate": "Bearer"})
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return app
