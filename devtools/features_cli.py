"""``python -m devtools.features_cli``: sync, inspect and query the local online store.

    sync [--snapshot NAME]   refresh the store from the warehouse's latest-features view
    status                   the serving version and the sync history
    lookup CARD_NUMBER...    a card's latest features (pseudonymised with the local keyset)

The card numbers are pseudonymised with the local stack's wrapped keyset, unwrapped by the
local stand-in of Cloud KMS (``<local dir>/kms``); only the pseudonym is printed.
"""

from __future__ import annotations

import argparse

from fraud_mlops.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.features_cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    sync = commands.add_parser("sync", help="refresh the local online store from the warehouse")
    sync.add_argument("--snapshot", default=None, help="source snapshot to record")
    commands.add_parser("status", help="serving version and sync history")
    lookup = commands.add_parser("lookup", help="latest features of card numbers")
    lookup.add_argument("cards", nargs="+")
    args = parser.parse_args(argv)

    settings = get_settings()
    if args.command == "sync":
        from fraud_mlops.feature_store.sync import sync_local_online_store

        print(sync_local_online_store(args.snapshot, settings).summary())
    elif args.command == "status":
        from fraud_mlops.feature_store.local_store import LocalOnlineStore

        store = LocalOnlineStore(settings.online_store_path)
        current = store.current_sync()
        print(f"online store {settings.online_store_path}")
        print(f"serving: {current.summary() if current else 'nothing (never synced)'}")
        for record in store.history():
            print(
                f"  {record.sync_id}  {record.synced_at}  {record.row_count:>9,} cards  ",
                record.source_snapshot,
            )
    else:
        from devtools.stack.config import pseudonymiser
        from fraud_mlops import targets

        try:
            pseudonymise = pseudonymiser(settings.local_dir)
        except RuntimeError as missing:
            raise SystemExit(str(missing)) from None
        pseudonyms = [pseudonymise(card) for card in args.cards]
        result = targets.feature_store(settings).reader().fetch(pseudonyms)
        for pseudonym in pseudonyms:
            row = result.found.get(pseudonym)
            if row is None:
                print(f"{pseudonym[:16]}…  unknown card (not in the online store)")
                continue
            when = "an unknown time" if row.feature_timestamp is None else row.feature_timestamp.isoformat()
            print(f"{pseudonym[:16]}…  features of {when}, sync {row.sync_id}")
            for name, value in row.values.items():
                print(f"    {name:<24} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
