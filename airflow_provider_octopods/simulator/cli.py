"""``octopods-simulator`` / ``python -m airflow_provider_octopods.simulator``.

The first line on stdout is one JSON object (base URL, keys, admin URL), flushed at once so a
script can start the simulator as a subprocess and read where it listens. Nothing else is printed
to stdout; logs go to stderr and never contain a key. SIGINT and SIGTERM stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from typing import TYPE_CHECKING, Any

from .config import SimulatorConfig
from .profiles import CHOICES, Profile, parse_profile_text
from .server import SimulatorServer

if TYPE_CHECKING:
    from collections.abc import Sequence

logger = logging.getLogger("airflow_provider_octopods.simulator")


def _read_after(text: str) -> float | None:
    if text.strip().lower() in ("none", "off", "never", ""):
        return None
    value = float(text)
    return None if value < 0 else value


def _rate(text: str) -> float | None:
    if text.strip().lower() in ("none", "off", "0"):
        return None
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("rate limit must be > 0 (or 'none')")
    return value


def _load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="octopods-simulator",
        description="A local Octopods API server (WhatsApp, SMS): test DAGs without an Octopods account.",
    )
    net = parser.add_argument_group("server")
    net.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1, loopback only)"
    )
    net.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    net.add_argument("--seed", type=int, default=0, help="seed for ids, jitter and fault draws (default 0)")
    net.add_argument("--keepalive-timeout", type=float, default=300.0, help="idle keep-alive seconds (300)")
    net.add_argument("--backlog", type=int, default=4096, help="listen backlog (4096)")
    net.add_argument("--public-base-url", default=None, help="base URL used in message_status_url")
    keys = parser.add_argument_group("keys")
    keys.add_argument("--whatsapp-api-key", default=None, help="WhatsApp key (default sim-whatsapp-key-SEED)")
    keys.add_argument(
        "--channel-api-key", default=None, help="channel (SMS) key (default sim-channel-key-SEED)"
    )
    prof = parser.add_argument_group("documentation profile (see docs/simulator.md)")
    prof.add_argument(
        "--profile", default=None, help="options as key=value,key=value (e.g. preset=reference)"
    )
    for name, choices in CHOICES.items():
        prof.add_argument("--" + name.replace("_", "-"), dest=name, choices=choices, default=None)
    prof.add_argument(
        "--failure-reason",
        dest="failure_reason",
        default=None,
        help="doc | object | string | null | empty | absent",
    )
    timing = parser.add_argument_group("status progressions")
    timing.add_argument("--deliver-after", type=float, default=2.0, help="seconds SENT → DELIVERED (2.0)")
    timing.add_argument(
        "--read-after",
        type=_read_after,
        default=5.0,
        help="seconds DELIVERED → READ (5.0; negative or 'none' = never)",
    )
    timing.add_argument(
        "--jitter", type=float, default=0.2, help="seeded jitter fraction on each delay (0.2)"
    )
    timing.add_argument("--sms-queue-for", type=float, default=0.5, help="seconds an SMS stays QUEUED (0.5)")
    timing.add_argument(
        "--unknown-window", type=float, default=12.0, help="UNKNOWN window of the *0009 rule (12)"
    )
    timing.add_argument("--templates", metavar="FILE", default=None, help="JSON file: list of templates")
    timing.add_argument("--rules", metavar="FILE", default=None, help="JSON file: list of recipient rules")
    limits = parser.add_argument_group("rate limits and faults")
    limits.add_argument("--rate-limit", type=_rate, default=None, metavar="RATE", help="requests/s per key")
    limits.add_argument(
        "--rate-burst", type=int, default=None, metavar="N", help="bucket size (default: RATE)"
    )
    limits.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="KIND[:VALUE][:key=value,...], e.g. status:503:ratio=0.1, drop:count=2, latency:1.5:method=GET",
    )
    busy = parser.add_argument_group("traffic from other senders on the WhatsApp key")
    busy.add_argument(
        "--traffic",
        action="append",
        default=[],
        metavar="SPEC",
        help="RATE[,DURATION[,START]][,key=value,...] or a JSON object, e.g. 0.5,86400,now-86400 or "
        "count=1600,duration=86400,burst=400:36000:3600 (DURATION 3600 s, START now by default)",
    )
    busy.add_argument(
        "--clock-start",
        default=None,
        metavar="WHEN",
        help="start the simulated clock at WHEN instead of now: ISO 8601, epoch seconds or now-SECONDS "
        "(e.g. now-86400 to replay yesterday's traffic by advancing the clock); it runs at wall speed",
    )
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING (default), ERROR")
    return parser


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    options: dict[str, Any] = parse_profile_text(args.profile) if args.profile else {}
    for name in (*CHOICES, "failure_reason"):
        value = getattr(args, name, None)
        if value is not None:
            options[name] = value
    return SimulatorConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        whatsapp_api_key=args.whatsapp_api_key,
        channel_api_key=args.channel_api_key,
        profile=Profile.from_options(options),
        deliver_after=args.deliver_after,
        read_after=args.read_after,
        jitter=args.jitter,
        sms_queue_for=args.sms_queue_for,
        unknown_window=args.unknown_window,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        faults=list(args.fault),
        templates=_load_json(args.templates) if args.templates else None,
        rules=_load_json(args.rules) if args.rules else None,
        traffic=list(args.traffic),
        keepalive_timeout=args.keepalive_timeout,
        backlog=args.backlog,
        public_base_url=args.public_base_url,
        clock_start=args.clock_start,
    )


async def serve(config: SimulatorConfig) -> None:
    """Serve until SIGINT/SIGTERM; print the first-line JSON once listening."""
    server = SimulatorServer(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        sys.stdout.write(json.dumps(server.info()) + "\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = config_from_args(args)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    try:
        asyncio.run(serve(config))
    except OSError as exc:
        logger.error("cannot start the Octopods simulator: %s", exc)
        return 1
    except ValueError as exc:  # start-up state the options describe but cannot build (a traffic key)
        parser.error(str(exc))
    except KeyboardInterrupt:  # a second Ctrl-C while stopping
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
