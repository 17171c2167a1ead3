"""``python -m services.arr_emulator --flavor radarr --port 0 --api-key K [--seed demo]``

Serves one emulated Arr until SIGTERM / Ctrl-C and prints its URL (with the bound port) as
the first line on stdout. ``--kind`` is an alias of ``--flavor``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from .app import serve
from .emulator import ArrEmulator
from .flavors import FLAVORS, KINDS
from .seeds import load_seed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.arr_emulator", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--flavor", "--kind", dest="kind", required=True, choices=KINDS, help="which Arr to emulate"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="port (0: any free port; default: the app's usual port)",
    )
    parser.add_argument("--api-key", required=True, help="the API key clients must send")
    parser.add_argument(
        "--qbit-url", default=None, help="qBittorrent WebUI URL whose torrents feed the queue"
    )
    parser.add_argument("--qbit-username", default=None)
    parser.add_argument("--qbit-password", default=None)
    parser.add_argument(
        "--category", default=None, help="qBittorrent category of this Arr (default: the kind)"
    )
    parser.add_argument("--post-import-category", default=None)
    parser.add_argument("--seed", default=None, help="'demo', 'empty' or a JSON seed file")
    parser.add_argument(
        "--command-step", type=float, default=0.05, help="seconds per command stage"
    )
    args = parser.parse_args(argv)
    if args.port is not None and not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a TCP port (0-65535)")
    if not args.api_key:
        parser.error("--api-key must not be empty")
    if args.command_step < 0:
        parser.error("--command-step must be >= 0")
    if args.seed is not None:
        try:
            load_seed(args.seed)
        except ValueError as exc:
            parser.error(str(exc))
    return args


async def run(args: argparse.Namespace) -> None:
    emulator = ArrEmulator(args.kind, args.api_key, seed=args.seed, command_step=args.command_step)
    if args.qbit_url:
        await emulator.set_qbittorrent(
            args.qbit_url,
            args.category,
            username=args.qbit_username,
            password=args.qbit_password,
            post_import_category=args.post_import_category,
        )
    port = FLAVORS[args.kind].port if args.port is None else args.port
    running = await serve(emulator, args.host, port)
    print(running.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await running.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(run(args))
    except OSError as exc:
        print(
            f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
