"""A device syncing in its own process, for the kill tests: ``--kill-at STEP --kill-count K``
makes it SIGKILL itself the K-th time the sync loop reaches STEP (client_sdk/sync_loop.py names
the steps); without them it syncs to the end and prints the report as JSON."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

import msgspec

from client_sdk import FieldClient, FileTokenStore, RetryPolicy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--kill-at")
    parser.add_argument("--kill-count", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--page-limit", type=int)
    args = parser.parse_args(argv)
    seen = 0

    def step(name: str) -> None:
        nonlocal seen
        if name == args.kill_at:
            seen += 1
            if seen == args.kill_count:
                os.kill(os.getpid(), signal.SIGKILL)

    client = FieldClient(
        args.store,
        token_store=FileTokenStore(args.store + ".tokens"),
        batch_size=args.batch_size,
        page_limit=args.page_limit,
        retry=RetryPolicy(attempts=3, base_s=0.05, cap_s=0.2),
        step=step,
    )
    report = client.sync()
    client.close()
    print(json.dumps(msgspec.to_builtins(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
