"""``create_app(settings)``: the one place plugins, routers, middleware and lifespan meet."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from server import __version__
from server.auth.guards import principal_of
from server.auth.middleware import AuthMiddleware
from server.db.checkpoint import WalCheckpointer
from server.db.engine import create_engine, create_sessionmaker, warm_pool
from server.db.lookup import Lookup
from server.db.migrate import pending_heads, upgrade
from server.db.session import provide_db
from server.edge import ClientAddressMiddleware, RefuseNulMiddleware, security_headers
from server.errors import ServiceUnavailable
from server.logging import RequestLogMiddleware, configure_logging
from server.problems import exception_handlers
from server.routes import api_handlers, root_handlers
from server.settings import Settings
from server.sync.writers import etag_from_version
from server.web.apidocs import openapi_render_plugins
from server.web.templating import template_config

__all__ = ["LifespanHook", "create_app"]

logger = logging.getLogger("fieldline.app")

LifespanHook = Callable[[Litestar], Awaitable[None]]
"""Started after the database is ready (e.g. the scheduler); stopped hooks run in reverse."""


async def _require_authentication(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if handler.opt.get("public"):
        return
    principal_of(connection)


def create_app(
    settings: Settings,
    *,
    on_start: list[LifespanHook] | None = None,
    on_stop: list[LifespanHook] | None = None,
) -> Litestar:
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # Read from the app's state, not the closure: a test suite may serve one built app over
        # a fresh database per test by replacing ``app.state.settings`` between lifespans.
        settings: Settings = app.state.settings
        engine = create_engine(settings.database_url)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.is_sqlite = engine.dialect.name == "sqlite"
        app.state.lookup = Lookup(engine)
        checkpointer = WalCheckpointer.attach(engine)
        try:
            if checkpointer is not None:
                checkpointer.start()
            await _ensure_schema(settings, engine)
            await warm_pool(engine, settings.db_pool_warm)
            for hook in [*_default_start_hooks(settings), *(on_start or [])]:
                await hook(app)
            yield
        finally:
            for hook in reversed([*_default_stop_hooks(settings), *(on_stop or [])]):
                try:
                    await hook(app)
                except Exception:
                    logger.exception("error while stopping")
            app.state.lookup.close()
            await engine.dispose()
            if checkpointer is not None:
                checkpointer.stop()

    # ``db`` is provided once, at the app layer (Litestar refuses the same provider twice).
    api = Router(
        path="/api/v1",
        route_handlers=api_handlers(),
        guards=[_require_authentication],
        security=[{"bearer": []}, {"apiKey": []}],
    )
    app = Litestar(
        route_handlers=[api, *root_handlers()],
        lifespan=[lifespan],
        middleware=[
            ClientAddressMiddleware(),
            RequestLogMiddleware(log_requests=settings.log_requests),
            RefuseNulMiddleware(),
            AuthMiddleware(),
        ],
        exception_handlers=exception_handlers,
        dependencies={"db": Provide(provide_db)},
        request_max_body_size=settings.max_body_bytes,
        template_config=template_config(),
        # Level 1: sync pages compress to within 10% of level 9 at a third of the CPU (a 5,000
        # record page: 13 ms against 38 ms); the server's CPU is what a burst of devices waits on.
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=4096, gzip_compress_level=1
        ),
        openapi_config=OpenAPIConfig(
            title="Fieldline API",
            version=__version__,
            description="Field force automation with offline sync. Errors are RFC 9457 "
            "problem+json. See docs/api.md.",
            path="/schema",
            render_plugins=openapi_render_plugins(),
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                    "apiKey": SecurityScheme(
                        type="apiKey", name="X-API-Key", security_scheme_in="header"
                    ),
                }
            ),
        ),
        cors_config=_cors(settings),
        before_send=[security_headers],
        after_request=etag_from_version,
        debug=False,
        # Litestar's default config would install its own plain-text root handler over the one
        # JSON configuration (server/logging.py); errors are logged by server/problems.py.
        logging_config=None,
    )
    app.state.settings = settings
    return app


def _cors(settings: Settings) -> CORSConfig | None:
    """Closed unless origins are listed: then only those, without cookies (the API takes
    bearer tokens and API keys; the manager pages are same-origin)."""
    origins = settings.cors_origin_list
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "Content-Encoding",
            "If-Match",
            "X-API-Key",
            "X-Request-ID",
            "X-Fieldline-Protocol",
            "Idempotency-Key",
        ],
        expose_headers=["X-Request-ID", "Retry-After", "X-Fieldline-Next-Cursor", "ETag"],
        allow_credentials=False,
        max_age=600,
    )


async def _ensure_schema(settings: Settings, engine: Any) -> None:
    if settings.should_auto_migrate:
        import asyncio

        await asyncio.to_thread(upgrade, settings.database_url)
        return
    missing = await pending_heads(engine)
    if missing:
        raise ServiceUnavailable(
            "the database schema is not up to date (missing migrations: "
            + ", ".join(sorted(missing))
            + "); run `fieldline migrate` (or `make migrate`) against "
            "FIELDLINE_DATABASE_URL first"
        )


def _default_start_hooks(settings: Settings) -> list[LifespanHook]:
    from server.backoffice.dispatcher import start_dispatcher

    hooks: list[LifespanHook] = [start_dispatcher]
    if settings.scheduler_enabled:
        from server.forecasting.jobs import start_pool_warming
        from server.jobs.scheduler import start_scheduler

        # The nightly forecast recompute's worker pool starts in the background now, so that
        # the first recompute of this process does not pay for its start.
        hooks.extend([start_pool_warming, start_scheduler])
    return hooks


def _default_stop_hooks(settings: Settings) -> list[LifespanHook]:
    from server.backoffice.dispatcher import stop_dispatcher

    hooks: list[LifespanHook] = [stop_dispatcher]
    if settings.scheduler_enabled:
        from server.forecasting.jobs import stop_pool
        from server.jobs.scheduler import stop_scheduler

        # Run in reverse: the scheduler (and a recompute it waits for) stops before the pool.
        hooks.extend([stop_pool, stop_scheduler])
    return hooks
