"""`swath keys create|list|revoke|revoke-token`: manage API keys, and revoke JWTs by their `jti`, straight
in PostgreSQL (`SWATH_DATABASE_URL`)."""

from __future__ import annotations

import argparse
import asyncio
from uuid import UUID

from swath.db import connect
from swath.auth.tokens import MAX_JTI_CHARS
from swath.db import keys as key_queries
from swath.db import revoked_tokens
from swath.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `keys` and its subcommands on the `swath` parser."""
    keys = sub.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--scope", dest="scopes", action="append", choices=key_queries.SCOPES, required=True,
        help="repeat for several scopes",
    )
    listing = actions.add_parser("list", help="list keys (never the keys themselves)")
    listing.add_argument("--tenant")
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", type=UUID)
    revoke_token = actions.add_parser("revoke-token", help="refuse every JWT with this `jti` from now on")
    revoke_token.add_argument("jti")
    return keys


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out one `keys` subcommand; returns the exit status."""
    return asyncio.run(carry_out(args, settings))


async def carry_out(args: argparse.Namespace, settings: Settings, *, out=print) -> int:
    """Carry out one `keys` subcommand, writing its lines with `out`; returns the exit status."""
    db = await connect(settings.dsn, max_size=1)
    try:
        async with db.acquire() as conn:
            if args.keys_command == "create":
                try:
                    key_id, key = await key_queries.create_key(conn, tenant=args.tenant, scopes=args.scopes)
                except ValueError as err:
                    out(f"swath keys create: {err}")
                    return 2
                out(f"id   {key_id}\nkey  {key}\n(the key is shown only now; store it safely)")
            elif args.keys_command == "revoke-token":
                if not 0 < len(args.jti) <= MAX_JTI_CHARS:
                    out(f"swath keys revoke-token: a jti has 1 to {MAX_JTI_CHARS} characters")
                    return 2
                row = await revoked_tokens.revoke_token(conn, jti=args.jti)
                out(f"{row['jti']}  revoked {row['revoked_at']:%Y-%m-%dT%H:%M:%SZ}")
            elif args.keys_command == "list":
                for row in await key_queries.list_keys(conn, tenant=args.tenant):
                    out(_row_line(row))
            else:
                row = await key_queries.revoke_key(conn, key_id=args.key_id)
                if row is None:
                    out(f"swath keys revoke: no key {args.key_id}")
                    return 1
                out(_row_line(row))
    finally:
        await db.close()
    return 0


def _row_line(row) -> str:
    state = f"revoked {row['revoked_at']:%Y-%m-%dT%H:%M:%SZ}" if row["revoked_at"] else "active"
    used = f"{row['last_used_at']:%Y-%m-%dT%H:%M:%SZ}" if row["last_used_at"] else "never"
    return "  ".join([
        str(row["id"]), key_queries.key_prefix(row["id"]), row["tenant"], ",".join(row["scopes"]),
        f"last used {used}", state,
    ])
