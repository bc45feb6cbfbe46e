"""The ``fieldline`` command: serve, migrate, demo, create-user, and each area's own verbs.

Areas add sub-commands by exposing ``register(subparsers)``; ``_REGISTRARS`` lists each area's
module with the commands it registers.

Only what the chosen command needs is imported: the parser of one area when the command line
names one of its commands, every area's only for ``fieldline --help`` (or a command no area
claims, so that argparse can list the choices). ``fieldline rep …`` thus imports nothing of
``server`` but this module, and each handler imports its heavy modules (the app, the database,
uvicorn) when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.settings import Settings

__all__ = ["main"]

Registrar = Callable[[Any], None]

_REGISTRARS: dict[str, tuple[str, ...]] = {
    "server.demo.cli": ("demo",),
    "server.forecasting.cli": ("forecast",),
    "server.leads.cli": ("leads",),
    "server.jobs.cli": ("jobs",),
    "client_sdk.cli": ("rep", "simulate"),
}
"""Each area's module (imported only when needed) and the top-level commands it registers."""


SERVER_EXTRA = "pip install 'fieldline[server]'"
"""What installs the server's dependencies: a plain ``pip install fieldline`` is the device SDK
and ``fieldline rep`` alone (pyproject.toml)."""


class ServerNotInstalled(Exception):
    """A server command run where only the SDK is installed."""


def _registrars(command: str | None = None) -> list[Registrar]:
    """The ``register`` functions to call: only the area owning ``command``, or every area when
    no area claims it (``--help``, a typo) so the parser can list them all. Where only the SDK
    is installed, the server's areas are left out of a listing, and naming one of their
    commands says what to install."""
    modules = [m for m, commands in _REGISTRARS.items() if command in commands] or list(_REGISTRARS)
    found = []
    for module in modules:
        try:
            found.append(importlib.import_module(module).register)
        except ModuleNotFoundError as exc:
            if module.startswith("server.") and exc.name not in (None, module):
                if command in _REGISTRARS[module]:
                    raise ServerNotInstalled(command) from exc
                continue
            raise
    return found


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The top-level command named on the command line, read without importing any area: the
    first argument that is neither an option nor the value of ``--database-url`` or
    ``--env-file``. None when a
    top-level ``--help`` comes first (it must list every command) or no command is given."""
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return args[i + 1] if i + 1 < len(args) else None
        # argparse accepts unambiguous prefixes (--he, --database) and --database-url=URL.
        if arg == "-h" or (len(arg) > 2 and "--help".startswith(arg)):
            return None
        if arg.startswith("-"):
            takes_value = (
                "=" not in arg
                and len(arg) > 2
                and ("--database-url".startswith(arg) or "--env-file".startswith(arg))
            )
            i += 2 if takes_value else 1
            continue
        return arg
    return None


def _load_env_file(path: str) -> None:
    """The file's settings into this process's environment, for whichever command runs: secrets
    stay in the file, never on a command line (``env $(cat …)`` shows them to ``ps``)."""
    import os

    from server.settings import SettingsError, read_env_file

    try:
        found = read_env_file(path)
    except OSError as exc:
        raise SettingsError(f"cannot read the env file {path}: {exc.strerror}") from None
    for key, value in found.items():
        os.environ.setdefault(key, value)


def _settings(args: argparse.Namespace) -> Settings:
    from server.settings import Settings

    overrides: dict[str, Any] = {}
    if getattr(args, "database_url", None):
        overrides["database_url"] = args.database_url
    return Settings.from_env(**overrides)


KEEP_ALIVE_S = 75


def _cmd_serve(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    import uvicorn

    from server import __version__
    from server.app import create_app

    settings = _settings(args)
    host = args.host or settings.host
    port = args.port or settings.port
    if not settings.should_auto_migrate:
        missing = asyncio.run(_missing_migrations(settings.database_url))
        if missing:
            print(
                "fieldline: the database schema is not up to date (missing: "
                + ", ".join(sorted(missing))
                + f"). Run `fieldline migrate` against {_safe_url(settings.database_url)} first.",
                file=sys.stderr,
            )
            return 2
    app = create_app(settings)
    _tune_gc()
    # A log line, not a print: everything the process writes is JSON (server/logging.py).
    logging.getLogger("fieldline.serve").info(
        f"Fieldline serving on http://{host}:{port}  (API docs: http://{host}:{port}/schema)",
        extra={"fields": {"host": host, "port": port, "version": __version__}},
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        # uvicorn's records propagate to the one JSON handler create_app configured; its own
        # plain-text handlers are never installed.
        log_config=None,
        access_log=False,
        workers=None,
        timeout_graceful_shutdown=5,
        # Longer than the idle timeout of whatever keeps connections open to us (nginx's upstream
        # keepalive: 60 s; cloud load balancers: 60 s; a device's client between syncs). If we
        # closed first, a request sent on the closing connection is lost with a reset, and a proxy
        # does not resend a POST: a push would fail for nothing. uvicorn's default is 5 s.
        timeout_keep_alive=KEEP_ALIVE_S,
        # Forwarded headers are read by the app itself, from FIELDLINE_TRUSTED_PROXIES only
        # (server/edge.py); uvicorn's own reading trusts loopback by default and takes the
        # left-most, client-written X-Forwarded-For entry.
        proxy_headers=False,
        server_header=False,
    )
    return 0


def _tune_gc() -> None:
    """Everything loaded so far (modules, mappers, routes) lives as long as the process: freeze
    it, so collections during requests stop traversing it, and collect the young generation less
    often. A request allocates thousands of short-lived objects (rows, statements, results), and
    with the default threshold of 700 many lived through a collection and were promoted. Measured
    over a burst of 100 syncing devices: 0.07 s of collection before, under 0.02 s after."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 10, 10)


async def _missing_migrations(url: str) -> set[str]:
    from server.db.engine import create_engine
    from server.db.migrate import pending_heads

    engine = create_engine(url, null_pool=True)
    try:
        return await pending_heads(engine)
    finally:
        await engine.dispose()


def _cmd_migrate(args: argparse.Namespace) -> int:
    from server.db.migrate import upgrade
    from server.logging import configure_logging

    settings = _settings(args)
    configure_logging(settings.log_level)  # Alembic's lines as JSON, like the server's
    upgrade(settings.database_url)
    print(f"database migrated: {_safe_url(settings.database_url)}")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _cmd_create_user(args: argparse.Namespace) -> int:
    import asyncio
    import getpass

    from server.auth.service import create_user_cli

    settings = _settings(args)
    password = args.password or getpass.getpass("password: ")
    user_id = asyncio.run(
        create_user_cli(
            settings,
            username=args.username,
            password=password,
            role=args.role,
            full_name=args.full_name or args.username,
            region_code=args.region,
            territory_code=args.territory,
        )
    )
    print(f"created {args.role} {args.username} ({user_id})")
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``command`` only the area that registers it (plus the server's
    own commands, which cost nothing to declare)."""
    parser = argparse.ArgumentParser(prog="fieldline", description="Fieldline server and tools")
    parser.add_argument("--database-url", help="overrides FIELDLINE_DATABASE_URL")
    parser.add_argument(
        "--env-file",
        help="read settings from this KEY=VALUE file (the systemd EnvironmentFile / compose "
        "env_file); variables already in the environment win",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API and manager pages")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_cmd_serve)

    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(func=_cmd_migrate)

    create_user = sub.add_parser("create-user", help="add a user")
    create_user.add_argument("username")
    create_user.add_argument(
        "--role", choices=["rep", "manager", "backoffice", "admin"], required=True
    )
    create_user.add_argument("--password", help="prompted for when omitted")
    create_user.add_argument("--full-name")
    create_user.add_argument("--region", help="region code (managers and reps)")
    create_user.add_argument("--territory", help="territory code (reps)")
    create_user.set_defaults(func=_cmd_create_user)

    for register in _registrars(command):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = _chosen_command(argv)
    try:
        parser = build_parser(command)
    except ServerNotInstalled:
        return _needs_server(command)
    args = parser.parse_args(argv)
    try:
        if args.env_file:
            _load_env_file(args.env_file)
        result: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        # A third-party module missing under a server command: the SDK-only installation.
        own = exc.name is None or exc.name.split(".")[0] in ("server", "client_sdk", "sync")
        if command not in _REGISTRARS["client_sdk.cli"] and not own:
            return _needs_server(command)
        raise
    except Exception as exc:
        if _is_settings_error(exc):
            print(f"fieldline: {exc}", file=sys.stderr)
            return 2
        raise
    return result


def _needs_server(command: str | None) -> int:
    print(
        f"fieldline: `{command}` runs the server, whose dependencies are not installed here "
        f"(this installation is the device SDK). Install them with: {SERVER_EXTRA}",
        file=sys.stderr,
    )
    return 2


def _is_settings_error(exc: BaseException) -> bool:
    # Only a command that read the settings can raise SettingsError: when server.settings was
    # never imported (`fieldline rep …`), it is not one, and importing it now would be waste.
    settings = sys.modules.get("server.settings")
    return settings is not None and isinstance(exc, settings.SettingsError)


if __name__ == "__main__":
    sys.exit(main())
