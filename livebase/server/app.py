"""The application object: the database, the loaded functions, the runner,
and the ASGI apps that serve them."""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from collections.abc import Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import WebSocketRoute

from livebase.auth.admin import admin_key_matches, generate_admin_key
from livebase.auth.authenticator import AuthenticationError, Authenticator
from livebase.auth.identity import ADMIN, Identity
from livebase.database.catalog import ENV_INDEX_ID
from livebase.database.database import Database, DeployReport, Progress
from livebase.files.storage import FileStorage
from livebase.files.wiring import attach_storage
from livebase.functions.definitions import QUERY
from livebase.functions.loader import load_functions
from livebase.functions.logs import install as install_log_capture
from livebase.functions.paths import canonical_path
from livebase.functions.registry import Registry
from livebase.functions.runner import FailedCall, FunctionRunner, Outcome
from livebase.scheduler import Scheduler
from livebase.server.admin_api import admin_routes
from livebase.server.config import ServerConfig
from livebase.server.env import check_env_name, check_env_value
from livebase.server.env import load_env as _load_env
from livebase.server.http_actions import build_site_app
from livebase.server.http_api import HttpApi
from livebase.server.logs import FunctionLog
from livebase.server.responses import HttpError, error_response, internal_error
from livebase.server.storage_routes import storage_routes
from livebase.server.sync_endpoint import SyncEndpoint
from livebase.sync.engine import SyncEngine
from livebase.sync.query_cache import args_key
from livebase.values.sort_key import sort_key


class LivebaseApp:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.db = Database.open(config.resolved_database_url)
        self.registry = Registry()
        self.runner = FunctionRunner(self.db, lambda: self.registry, dev=config.dev, env=self.env_values)
        self.db.committer.write_inline = lambda: self.runner.active <= 1
        self.admin_key = ""
        self.instance_secret = b""
        self._reload_lock = asyncio.Lock()
        self.on_reload: list[Callable[[Registry], Any]] = []
        self.sync = SyncEngine(self)
        self.logs = FunctionLog(json_lines=not config.dev)
        self.runner.on_execution.append(self.logs.record)
        self.env: dict[str, str] = {}
        self.authenticator = Authenticator(lambda: self.registry.auth_providers)
        self.scheduler = Scheduler(self)
        self.files: FileStorage
        attach_storage(self)

    # -- lifecycle ---------------------------------------------------------------

    async def startup(self, progress: Progress | None = None) -> DeployReport:
        install_log_capture()
        key = self.db.globals.get("admin_key")
        secret = self.db.globals.get("instance_secret")
        if key is None or secret is None:
            key = key or generate_admin_key(self.config.instance_name).encode()
            secret = secret or secrets.token_hex(32).encode()
            await self.db.write_globals({"admin_key": key, "instance_secret": secret})
        self.admin_key = key.decode()
        # Signs upload URLs and other short-lived tokens of this deployment.
        self.instance_secret = bytes.fromhex(secret.decode())
        self.env = _load_env(self.db.globals.get("env"))
        registry = load_functions(self.config.functions_dir)
        report = await self.db.apply_schema(registry.schema, progress)
        self.registry = registry
        await self.scheduler.start()
        return report

    async def reload(self, progress: Progress | None = None) -> DeployReport:
        """Load the functions folder again and push its schema; on any error
        the previous functions stay in place and the error is raised."""
        async with self._reload_lock:
            registry = load_functions(self.config.functions_dir)
            self.scheduler.check(registry)
            report = await self.db.apply_schema(registry.schema, progress)
            self.registry = registry
            for hook in self.on_reload:
                hook(registry)
            return report

    async def shutdown(self) -> None:
        await self.scheduler.stop()
        await self.sync.stop()
        await self.files.close()
        self.logs.flush()
        await self.db.committer.wait_idle()
        self.db.close()

    # -- environment variables ---------------------------------------------------

    def env_values(self) -> dict[str, str]:
        return self.env

    async def set_env(self, changes: dict[str, str | None]) -> int:
        """Set (or, with None, remove) environment variables durably; queries
        that read a changed variable are invalidated like any other read."""
        for name, value in changes.items():
            check_env_name(name)
            if value is not None:
                check_env_value(name, value)
        env = dict(self.env)
        for name, value in changes.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value

        def apply() -> None:
            self.env = env

        return await self.db.write_globals(
            {"env": orjson.dumps(env)},
            written_keys={ENV_INDEX_ID: [sort_key(n) for n in changes]},
            on_publish=apply,
        )

    # -- auth --------------------------------------------------------------------

    async def identity_from_header(self, header: str | None) -> Identity | None:
        """The caller named by an ``Authorization`` header; raises ``HttpError(401)``."""
        if not header:
            return None
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "convex":
            key, _, acting_as = value.partition(":")
            if not admin_key_matches(self.admin_key, key):
                raise HttpError(401, "BadAdminKey", "The admin key in the Authorization header is not valid")
            if acting_as:
                try:
                    attrs = orjson.loads(base64.b64decode(acting_as))
                except ValueError:
                    attrs = None
                if not isinstance(attrs, dict):
                    raise HttpError(401, "BadAdminKey", "The identity after the admin key is not base64 JSON")
                return Identity.impersonating(attrs)
            return ADMIN
        if scheme.lower() == "bearer":
            return await self.identity_from_token(value)
        raise HttpError(
            401, "InvalidAuthHeader", "The Authorization header must be 'Bearer <JWT>' or 'Convex <admin key>'"
        )

    async def identity_from_token(self, token: str) -> Identity:
        """Verify a user's JWT against the configured providers; ``HttpError(401)`` if refused."""
        try:
            return await self.authenticator.authenticate(token)
        except AuthenticationError as e:
            raise HttpError(401, e.code, e.message) from None

    # -- running -------------------------------------------------------------------

    async def call(
        self,
        path: str,
        args: dict[str, Any],
        *,
        kind: str | None,
        identity: Identity | None,
        request_id: str,
    ) -> Outcome:
        """Run a function for a client request; queries go through the cache."""
        internal_ok = identity is not None and identity.may_call_internal
        canonical = canonical_path(path)
        fn = self.registry.lookup(canonical)
        cacheable = fn is not None and fn.kind == QUERY and kind in (None, QUERY) and (internal_ok or not fn.internal)
        if cacheable:
            assert fn is not None
            try:
                # Validated first: the cache is keyed by the checked arguments.
                args = self.runner.check_args(fn, canonical, args, request_id)
            except FailedCall:
                cacheable = False
        if cacheable:
            akey = args_key(args)
            hit = self.sync.cached_query(canonical, akey, identity, request_id)
            if hit is not None:
                return hit
        outcome = await self.runner.run(
            canonical,
            args,
            kind=kind,
            identity=identity,
            internal_ok=internal_ok,
            request_id=request_id,
            args_checked=cacheable,
        )
        if cacheable and outcome.ok:
            self.sync.remember_query(canonical, args, akey, identity, outcome)
        return outcome

    async def run_queries_at_one_snapshot(
        self, calls: list[tuple[str, dict[str, Any]]], identity: Identity | None
    ) -> list[Outcome]:
        with self.db.snapshot() as snapshot:
            outcomes = [self.runner.run_query_at(snapshot, path, args, identity) for path, args in calls]
        return outcomes

    # -- ASGI --------------------------------------------------------------------

    def site_asgi(self) -> Any:
        """The HTTP actions server (functions/http.py), served on the site port."""
        return build_site_app(self)

    def api_asgi(self) -> Any:
        async def http_error(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HttpError)
            return exc.response()

        async def not_found(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            if exc.status_code == 405:
                return error_response(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.url.path}")
            return error_response(exc.status_code, "NotFound", f"No endpoint at {request.url.path}")

        async def internal(request: Request, exc: Exception) -> Response:
            return internal_error(request.url.path).response()

        sync = SyncEndpoint(self)
        http_api = HttpApi(self)
        app = Starlette(
            routes=[
                *http_api.routes(),
                *storage_routes(self),
                *admin_routes(self),
                WebSocketRoute("/api/sync", sync),
                WebSocketRoute("/api/{version}/sync", sync),
            ],
            exception_handlers={HttpError: http_error, HTTPException: not_found, Exception: internal},
            middleware=[
                Middleware(
                    CORSMiddleware,
                    allow_origin_regex=".*",
                    allow_credentials=True,
                    allow_methods=["GET", "POST", "OPTIONS", "PATCH", "DELETE", "PUT"],
                    allow_headers=["*"],
                    max_age=86400,
                )
            ],
        )
        return _front_door(app, sync, http_api)


_SYNC_PATH = re.compile(r"^/api/(?:[^/]+/)?sync$")


def _front_door(app: Any, sync: SyncEndpoint, http_api: HttpApi) -> Any:
    """The outermost ASGI callable.

    Collapses duplicate slashes (a deployment URL with a trailing slash gives
    ``//api/1.48.0/sync``) and hands sync sockets straight to the sync
    endpoint with the server's own ``send``: no middleware wraps it, so the
    endpoint can tell when a client's socket is backed up.
    """

    fast_paths = HttpApi.FAST_PATHS

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if "//" in path:
            scope = dict(scope)
            while "//" in path:
                path = path.replace("//", "/")
            scope["path"] = path
        if scope["type"] == "websocket" and _SYNC_PATH.match(path):
            await sync(scope, receive, send)
            return
        if scope["type"] == "http" and scope["method"] == "POST" and path in fast_paths:
            await http_api.fast_call(scope, receive, send)
            return
        await app(scope, receive, send)

    return asgi
