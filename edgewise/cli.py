"""The `edgewise` command.

    edgewise workspace create --name Acme --admin-email ops@acme.test [--json]
    edgewise keys generate | rewrap [--dry-run] [--json]
    edgewise api | worker | sandbox | dev | migrate

Configuration comes from the environment (edgewise.config). Bad input prints a message on stderr and
exits non-zero (2 for usage errors, 1 for failures).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import sys
from collections.abc import Sequence
from typing import Any

from edgewise.config import get_settings


def _workspace_create(args: argparse.Namespace) -> int:
    from db.engine import make_engine
    from db.migrate import upgrade
    from edgewise.crypto import load_keyring
    from edgewise.workspaces import create_workspace

    settings = get_settings()
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        created = create_workspace(engine, load_keyring(settings), args.name, args.admin_email)
    except ValueError as exc:
        print(f"edgewise: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if args.json:
        print(
            json.dumps(
                {
                    "workspace_uid": created.workspace_uid,
                    "member_uid": created.member_uid,
                    "api_key": created.api_key,
                }
            )
        )
    else:
        print(f"workspace {created.workspace_uid} created; admin {args.admin_email.strip().lower()}")
        print(f"admin API key (shown once): {created.api_key}")
    return 0


def _keys_generate(_args: argparse.Namespace) -> int:
    from edgewise.crypto import new_key

    print(new_key())
    return 0


def _keys_rewrap(args: argparse.Namespace) -> int:
    """Re-seal stored secrets under the first key of EDGEWISE_ENCRYPTION_KEY; exit 1 if any blob could not
    be opened (then an old key is still needed: do not drop it)."""
    from db.engine import make_engine
    from db.migrate import upgrade
    from edgewise.crypto import load_keyring
    from edgewise.rewrap import rewrap_all

    settings = get_settings()
    upgrade(settings.resolved_database_url)
    keyring = load_keyring(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        reports = rewrap_all(engine, keyring, dry_run=args.dry_run)
    finally:
        engine.dispose()
    unreadable = sum(report.unreadable for report in reports)
    if args.json:
        print(json.dumps({
            "key_id": keyring.primary_key_id.decode(),
            "dry_run": args.dry_run,
            "columns": [vars(report) for report in reports],
        }))
    else:
        verb = "would re-seal" if args.dry_run else "re-sealed"
        print(f"newest key: {keyring.primary_key_id.decode()}")
        for report in reports:
            print(
                f"{report.table}.{report.column}: {verb} {report.rewrapped}, already current "
                f"{report.current}, unreadable {report.unreadable}, "
                f"changed meanwhile {report.changed_meanwhile}"
            )
    if unreadable:
        print(f"edgewise: no configured key opens {unreadable} secret(s); keep the old keys", file=sys.stderr)
        return 1
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    from db.migrate import upgrade

    upgrade(get_settings().resolved_database_url)
    print("database migrated")
    return 0


def _api(_args: argparse.Namespace) -> int:
    from api.__main__ import main

    main()
    return 0


def _run_entry(module_name: str, attr: str, argv: Sequence[str]) -> int:
    """Run `module.attr()` (imported lazily: some are optional parts), sync or async, with `argv`."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"edgewise: {module_name} is not available ({exc})", file=sys.stderr)
        return 1
    entry = getattr(module, attr, None)
    if entry is None:
        print(f"edgewise: {module_name} has no {attr}()", file=sys.stderr)
        return 1
    sys.argv = [f"edgewise {module_name}", *argv]
    # Entry points that take an argv get it; others (worker.main) read nothing or sys.argv.
    result: Any = entry(list(argv)) if inspect.signature(entry).parameters else entry()
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return result if isinstance(result, int) else 0


async def _await(awaitable: Any) -> Any:
    return await awaitable


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgewise", description="Run and administer edgewise.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    ws = commands.add_parser("workspace", help="manage workspaces")
    ws_commands = ws.add_subparsers(dest="workspace_command", metavar="ACTION")
    ws_commands.required = True
    create = ws_commands.add_parser(
        "create", help="create a workspace and its first admin; prints the API key"
    )
    create.add_argument("--name", required=True, help="workspace name (1–255 characters)")
    create.add_argument("--admin-email", required=True, help="email of the first admin")
    create.add_argument("--json", action="store_true", help='print one JSON line {"workspace_uid", …}')
    create.set_defaults(handler=_workspace_create)

    keys = commands.add_parser("keys", help="encryption keys: generate one, re-seal stored secrets")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    key_commands.required = True
    key_commands.add_parser("generate", help="print a new 32-byte key (base64)").set_defaults(
        handler=_keys_generate
    )
    rewrap = key_commands.add_parser(
        "rewrap",
        help="re-encrypt stored secrets (cookies, webhook secrets, callback headers) with the first key of "
        "EDGEWISE_ENCRYPTION_KEY, after a rotation",
    )
    rewrap.add_argument("--dry-run", action="store_true", help="count only; write nothing")
    rewrap.add_argument("--json", action="store_true", help="print one JSON line with the counts")
    rewrap.set_defaults(handler=_keys_rewrap)

    commands.add_parser("api", help="serve the HTTP API (API_HOST:API_PORT)").set_defaults(handler=_api)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(handler=_migrate)
    for name, (_module, _attr, text) in PASS_THROUGH.items():
        # Listed for --help only: main() hands their arguments (even --help) to the component itself.
        commands.add_parser(name, help=text, add_help=False)
    return parser


# Commands that run another component with its own argument parser (imported lazily: optional parts).
PASS_THROUGH = {
    "worker": ("worker", "main", "run the Temporal worker"),
    "sandbox": ("linkedin.sandbox.__main__", "main", "run the LinkedIn sandbox (options: --help)"),
    "dev": ("edgewise.dev", "main", "run everything for development, as `make dev` does"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in PASS_THROUGH:
            module, attr, _ = PASS_THROUGH[args_list[0]]
            return _run_entry(module, attr, args_list[1:])
        args = build_parser().parse_args(args_list)
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
