"""``batchdial workspace ACTION`` beyond ``create`` (issue 19): what the operator API and
the numbers and keys routes do, straight on Redis (as ``create``), each printing JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from config.redis import make_redis
from config.settings import Settings
from domain.errors import BatchDialError, InvalidInput
from domain.keys import Keys

#: action -> (help, [(argument, options)])
ACTIONS: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {
    "list": ("list the workspaces", []),
    "set-limit": (
        "change a workspace's dial limit",
        [("workspace", {}), ("--dial-limit", {"type": int, "required": True})],
    ),
    "disable": ("disable a workspace (keys refused, nothing dialed)", [("workspace", {})]),
    "enable": ("enable a disabled workspace", [("workspace", {})]),
    "add-number": (
        "add a caller-ID number",
        [
            ("workspace", {}),
            ("--number", {"required": True, "metavar": "E164"}),
            ("--max", {"type": int, "required": True, "help": "its own dial limit"}),
        ],
    ),
    "rest-number": ("rest a number by hand", [("workspace", {}), ("number_id", {})]),
    "restore-number": ("restore a rested number", [("workspace", {}), ("number_id", {})]),
    "remove-number": (
        "delete a number (out of unfinished jobs' pools)",
        [("workspace", {}), ("number_id", {})],
    ),
    "new-key": ("make a new API key (printed once)", [("workspace", {})]),
    "revoke-key": ("revoke an API key", [("workspace", {}), ("key_id", {})]),
}


def add_actions(ws_sub: Any) -> None:
    """Add the actions to ``batchdial workspace``'s subparsers."""
    for name, (text, arguments) in ACTIONS.items():
        parser = ws_sub.add_parser(name, help=text)
        for argument, options in arguments:
            parser.add_argument(argument, **options)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run one action; 2 on a refusal (its message on stderr)."""
    from producer.admin import AdminWorkspaces  # noqa: PLC0415
    from producer.apikeys import ApiKeys  # noqa: PLC0415
    from producer.numbers import PhoneNumbers  # noqa: PLC0415
    from producer.workspaces import Workspaces  # noqa: PLC0415

    client = make_redis(settings.redis_url)
    keys = Keys(settings.namespace)
    workspaces = Workspaces(client, keys)
    admin = AdminWorkspaces(client, keys, workspaces)
    numbers = PhoneNumbers(client, keys, workspaces)
    action, ws = args.ws_command, getattr(args, "workspace", "")
    try:
        out: Any
        if action == "list":
            out = admin.list(500, None).as_dict()
        elif action == "set-limit":
            out = admin.update(ws, {"dialLimit": args.dial_limit})
        elif action in ("disable", "enable"):
            out = admin.update(ws, {"disabled": action == "disable"})
        elif action == "add-number":
            admin.view(ws)
            out = numbers.add(ws, {"number": args.number, "maxConcurrentDials": args.max})
        elif action in ("rest-number", "restore-number"):
            out = numbers.update(ws, args.number_id, {"resting": action == "rest-number"})
        elif action == "remove-number":
            out = numbers.remove(ws, args.number_id)
        elif action == "new-key":
            admin.view(ws)
            out = ApiKeys(client, keys).create(ws)
        else:
            out = ApiKeys(client, keys).revoke(ws, args.key_id)
    except InvalidInput as exc:
        for problem in exc.problems:
            sys.stderr.write(f"batchdial: {problem.path or action}: {problem.message}\n")
        return 2
    except BatchDialError as exc:
        sys.stderr.write(f"batchdial: {exc}\n")
        return 2
    sys.stdout.write(json.dumps(out) + "\n")
    return 0
