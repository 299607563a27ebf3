"""The ``hotline`` command: run, demo, worker, purge, db, report, export, check-config,
render-dialplans, render-proxy, phones."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import faulthandler
import getpass
import importlib
import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from acd import chat
from acd.config import load_agents, load_queues
from core import redisconn
from core.audit import AuditAction, audit
from core.config import ConfigError, Settings, load_settings
from core.keys import Keys
from core.logs import configure_logging
from core.privacy.vault import Vault
from hotline.app import HotlineApp, queue_rules
from hotline.demo import demo_environment, telethon_banner, with_campaign_lines
from hotline.dialplans import AsteriskDirs, render_dialplans
from hotline.harness import HarnessError, PrivateAsterisk, RedisServer
from hotline.phones import (
    create_missing_secrets,
    device_names,
    device_secrets,
    load_phones,
    rotate_secret,
)
from hotline.provisioning import softphone_account
from hotline.sip_proxy import render_proxy
from hotline.telethon import load_telethon
from ivr.flow import Flow, FlowError, load_flow
from pledges.campaigns import CampaignError
from pledges.donors import DonorSeal, reseal_pledges
from pledges.export import (
    RECEIPT_COLUMNS,
    accounting_rows,
    as_csv_of,
    receipt_rows,
    write_private,
)
from pledges.export import as_csv as pledges_csv
from pledges.retention import forget_donors
from records.chart import FORMATS, draw
from records.database import connect, current_revision, head_revision, upgrade
from records.progress import progress
from records.render import as_csv, as_table
from records.reports import By, QueueReport, parse_time, queue_report
from records.retention import DAY_S, PurgedRecords, purge_records

logger = logging.getLogger("hotline")
DEFAULT_CONFIG = Path("hotline.toml")


def _load(args: argparse.Namespace) -> tuple[Settings, Flow]:
    path: Path | None = args.config
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    settings = load_settings(path)
    return settings, load_flow(settings.ivr.flow, languages=settings.ivr.languages)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Load the configuration and the IVR flow; report what a service start would use."""
    settings, flow = _load(args)
    print(f"ok: ARI {settings.ari.url} app={settings.ari.app}, Redis {settings.redis.where}")
    print(f"ok: flow {flow.source}: {len(flow.nodes)} nodes, start at {flow.start!r}")
    queues = load_queues(settings.acd.queues, settings.ivr.languages)
    campaigns = load_telethon(settings.pledges, queues)
    if campaigns:
        print(f"ok: campaigns {settings.pledges.campaigns}: {', '.join(campaigns)}")
    for check in (settings.require_secrets, lambda: load_phones(settings)):
        try:
            check()
        except ConfigError as exc:
            print(f"warning: {exc}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    """Write the rendered Asterisk configuration into a directory."""
    settings, _ = _load(args)
    out = render_dialplans(settings, AsteriskDirs(), args.out)
    print(f"rendered dialplans/ into {out}")
    return 0


def cmd_render_proxy(args: argparse.Namespace) -> int:
    """Write Kamailio's configuration ([proxy], the phones' HA1 hashes) into a directory."""
    settings, _ = _load(args)
    out = render_proxy(settings, args.out)
    print(f"rendered dialplans/kamailio into {out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the ARI application against an existing Asterisk and Redis."""
    settings, flow = _load(args)
    settings.require_secrets()
    configure_logging(settings.log_level, settings.log_format)
    serve(HotlineApp(settings, flow))
    return 0


def serve(app: HotlineApp) -> None:
    """Run ``app`` until Ctrl-C or SIGTERM (as systemd and Docker stop services), then close it;
    SIGUSR1 writes every thread's stack to stderr (what a process that will not stop is doing)."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    async def until_stopped() -> None:
        main = asyncio.current_task()
        assert main is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
        await app.run_forever()

    with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
        asyncio.run(until_stopped())
    lingering = [t.name for t in threading.enumerate() if not t.daemon and t.is_alive()]
    if lingering != [threading.main_thread().name]:
        logger.error("stopped, but threads still run: %s", ", ".join(lingering))


def cmd_demo(args: argparse.Namespace) -> int:
    """Bring up a demo hotline on loopback: private Redis and Asterisk, then the app."""
    token = secrets.token_urlsafe(18)
    root = Path(args.dir).resolve()
    for name, value in demo_environment(root, token).items():
        os.environ.setdefault(name, value)
    settings, flow = _load(args)
    queues = load_queues(settings.acd.queues)
    campaigns = load_telethon(settings.pledges, queues)
    settings = with_campaign_lines(settings, campaigns.values())
    configure_logging(settings.log_level, settings.log_format)
    create_missing_secrets(settings)
    phones = "".join(
        f"    {name}: user {name}, password {secret}\n"
        for name, secret in device_secrets(settings).items()
    )
    redis = RedisServer(root / "redis").start()
    asterisk = PrivateAsterisk(root / "asterisk", settings)
    try:
        asterisk.start()
        settings = dataclasses.replace(
            settings, redis=dataclasses.replace(settings.redis, url=redis.url)
        )
        ast = settings.asterisk
        did, sip = ast.dids[0].lstrip("+"), f"{ast.sip_bind}:{ast.sip_port}"
        api = f"http://{settings.http.bind}:{settings.http.port}"
        print(
            f"\nDemo hotline is up: Asterisk SIP on {sip}, ARI on {settings.ari.url}, "
            f"Redis on {redis.url}, HTTP API on {api}\n"
            f"  Call it with SIPp (English, then 1: the general queue):\n"
            f"    sipp -sf tests/sipp/caller.xml -m 1 -s {did} -key caller +15145550123 "
            f"-set wait1 4000 -set key1 1 -set wait2 1500 -set key2 1 -set hangup_ms 0 "
            f"-i 127.0.0.1 -mi 127.0.0.1 -p 5070 {sip}\n"
            f"  or point a softphone on this machine at sip:{did}@{sip}.\n"
            f"  Volunteers: register a softphone at {sip}, realm {settings.phones.realm}, from an\n"
            f"  address other than the carrier's ({', '.join(ast.carrier_match)}; e.g. bind it to\n"
            f"  127.0.0.2), with its credentials (kept in {settings.phones.secrets_file}):\n"
            f"{phones}"
            f"  then log in by calling sip:"
            f"{settings.acd.volunteer_did.lstrip('+')}@{sip} (code 101, PIN 1111 for alice)\n"
            f"  or: curl -XPOST -H 'Authorization: Bearer {token}' {api}/acd/agents/alice/login\n"
            f"  Web console: {api}/console/ (alice / alice-console, bruno / bruno-console,\n"
            f"  chen / chen-console; dana / dana-console is a supervisor, gaby / gaby-console\n"
            f"  the admin)\n"
            f"{telethon_banner(campaigns, load_agents(settings.acd.agents, queues), sip, api)}"
            f"  Logs of Asterisk: {asterisk.log}. Ctrl-C stops everything.\n",
            flush=True,
        )
        serve(HotlineApp(settings, flow))
    finally:
        asterisk.stop()
        redis.stop()
    return 0


def cmd_phones(args: argparse.Namespace) -> int:
    """Create or rotate a SIP device's secret (rotate), or show its account (show): what a
    softphone needs, also as a QR code image (--qr FILE.png)."""
    settings, _ = _load(args)
    if args.name not in device_names(settings):
        raise ConfigError(f"{settings.acd.agents}: no SIP device PJSIP/{args.name}")
    path = settings.phones.secrets_file
    if args.action == "rotate":
        secret = rotate_secret(path, args.name)
        print(f"new secret for {args.name} in {path}; to apply it:")
        print("  hotline render-dialplans --out /etc/asterisk")
        print("  asterisk -rx 'module reload res_pjsip.so'")
    else:
        secret = device_secrets(settings).get(args.name, "")
        if not secret:
            raise ConfigError(f"no secret for {args.name}: run `hotline phones rotate {args.name}`")
    account = softphone_account(settings, args.name, secret)
    print("\n".join(account.lines()))
    if args.qr:
        account.save_qr(args.qr)
        print(f"QR code of the account: {args.qr} (holds the secret: hand it over, then delete it)")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Run an RQ worker for outbound SMS on the configured queue (with RQ's scheduler), and
    the drain of the Redis streams into the records."""
    from workers.process import run_worker

    settings, _ = _load(args)
    configure_logging(settings.log_level, settings.log_format)
    resolve = None
    if args.resolver:
        module, _, name = args.resolver.partition(":")
        resolve = getattr(importlib.import_module(module), name)(settings)
    elif len(settings.secrets.hash_key) < 16 or not settings.secrets.vault_keys:
        raise ConfigError("the worker needs HOTLINE_HASH_KEY and HOTLINE_VAULT_KEYS")
    run_worker(
        settings, resolve, drop_chat=chat.drop, forget_donors=forget_donors, burst=args.burst
    )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Purge vault entries, SMS content, records and pledges' donors past retention now
    (--schedule: also the daily purge of Redis)."""
    from workers.retention import purge_now, schedule

    settings, _ = _load(args)
    configure_logging(settings.log_level, settings.log_format)
    print(f"purged: {purge_now(settings, chat.drop)}")

    async def records() -> PurgedRecords:
        engine = connect(settings.records, settings.secrets.records_password)
        try:
            await upgrade(engine)  # a new install's tables exist, empty
            with progress("purging records", "rows") as bar:
                return await purge_records(
                    engine, settings.records, time.time(), on_batch=bar.update
                )
        finally:
            await engine.dispose()

    print(f"purged: {asyncio.run(records())}")

    async def donors() -> int:
        engine = connect(settings.records, settings.secrets.records_password)
        try:
            before = time.time() - settings.records.pledge_details_days * DAY_S
            return await forget_donors(engine, before)
        finally:
            await engine.dispose()

    print(f"pledges whose donor was forgotten: {asyncio.run(donors())}")
    if args.schedule:
        print(f"scheduled: {schedule(settings)}")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """The records database: bring its schema up to date (``upgrade``) or show its revision."""
    settings, _ = _load(args)
    configure_logging(settings.log_level, settings.log_format)

    async def run() -> str | None:
        engine = connect(settings.records, settings.secrets.records_password)
        try:
            if args.action == "upgrade":
                await upgrade(engine)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    print(f"records schema at {asyncio.run(run())} (newest: {head_revision()})")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a campaign's pledges: for accounting (amounts, statuses, provider references)
    to standard output, or a tax-receipt batch (names and addresses) to a new private file,
    audited first."""
    settings, _ = _load(args)
    campaigns = load_telethon(settings.pledges, load_queues(settings.acd.queues))
    if args.campaign not in campaigns:
        raise ConfigError(f"no such campaign: {args.campaign}")
    try:
        since = parse_time(args.since) if args.since else None
    except ValueError as exc:
        raise ConfigError(f"--since: {exc}") from None
    if args.what == "receipts":
        return _export_receipts(args, settings, since)

    async def run() -> list[tuple[str | int | None, ...]]:
        engine = connect(settings.records, settings.secrets.records_password)
        try:
            return await accounting_rows(engine, args.campaign, since)
        finally:
            await engine.dispose()

    print(pledges_csv(asyncio.run(run())), end="")
    return 0


def _export_receipts(args: argparse.Namespace, settings: Settings, since: float | None) -> int:
    """The tax-receipt batch: the audit entry first (who, which campaign, why), then the file."""
    if args.out is None or not args.reason.strip():
        raise ConfigError("export receipts needs --out FILE and --reason TEXT")
    if args.out.exists():
        raise ConfigError(f"--out {args.out}: exists (a batch never overwrites a file)")
    if not settings.secrets.vault_keys:
        raise ConfigError("export receipts needs HOTLINE_VAULT_KEYS to decrypt donor details")
    actor = getpass.getuser()

    async def run() -> list[tuple[str | int | None, ...]]:
        redis = redisconn.connect(settings.redis)
        engine = connect(settings.records, settings.secrets.records_password)
        try:
            await audit(
                redis,
                Keys(settings.redis.prefix),
                actor=actor,
                role="admin",
                action=AuditAction.EXPORT,
                target=args.campaign[:64],
                reason=f"tax receipts to {args.out}: {args.reason.strip()}"[:500],
                now=datetime.now(UTC),
            )
            seal = DonorSeal(settings.secrets.vault_keys)
            return await receipt_rows(engine, seal, args.campaign, since)
        finally:
            await engine.dispose()
            await redis.aclose()

    rows = asyncio.run(run())
    write_private(args.out, as_csv_of(RECEIPT_COLUMNS, rows))
    print(f"{len(rows)} receipt(s) written to {args.out} (mode 0600; audited as {actor})")
    return 0


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    """Re-encrypt the vault's numbers and the pledges' donor details with the newest key of
    HOTLINE_VAULT_KEYS (put the new key first, run this, then drop the old one)."""
    settings, _ = _load(args)
    configure_logging(settings.log_level, settings.log_format)
    if len(settings.secrets.hash_key) < 16 or not settings.secrets.vault_keys:
        raise ConfigError("rotate-keys needs HOTLINE_HASH_KEY and HOTLINE_VAULT_KEYS")

    async def run() -> tuple[int, int]:
        redis = redisconn.connect(settings.redis)
        engine = connect(settings.records, settings.secrets.records_password)
        try:
            vault = Vault(
                redis,
                Keys(settings.redis.prefix),
                hash_key=settings.secrets.hash_key,
                fernet_keys=settings.secrets.vault_keys,
                default_region=settings.privacy.default_region,
            )
            numbers = await vault.rotate()
            await upgrade(engine)  # a new install's tables exist, empty
            return numbers, await reseal_pledges(engine, DonorSeal(settings.secrets.vault_keys))
        finally:
            await engine.dispose()
            await redis.aclose()

    numbers, donors = asyncio.run(run())
    print(f"re-encrypted: {numbers} number(s) in the vault, {donors} pledge(s)' donor details")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Queue report over a period from the records (offered, answered, abandoned, SL, ...)."""
    settings, _ = _load(args)
    rules = queue_rules(load_queues(settings.acd.queues))
    names = args.queue or sorted(rules)
    unknown = [name for name in names if name not in rules]
    if unknown:
        raise ConfigError(f"no such queue: {', '.join(unknown)}")
    try:
        start, end = parse_time(args.start), parse_time(args.end)
    except ValueError as exc:
        raise ConfigError(f"--from/--to: {exc}") from None
    if args.chart is not None and args.chart.suffix.lower() not in FORMATS:
        raise ConfigError(f"--chart {args.chart}: a .png or .svg file")

    async def run() -> list[QueueReport]:
        engine = connect(settings.records, settings.secrets.records_password)
        try:
            found = []
            with progress("report", "queues", len(names)) as bar:
                for name in names:
                    found.append(
                        await queue_report(engine, name, rules[name], start, end, By(args.by))
                    )
                    bar.update(1)
            return found
        finally:
            await engine.dispose()

    reports = asyncio.run(run())
    if args.chart is not None:
        for report in reports:
            path = (
                args.chart
                if len(reports) == 1
                else args.chart.with_stem(f"{args.chart.stem}-{report.queue}")
            )
            draw(report, path)
            print(f"chart: {path}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"reports": [r.to_dict() for r in reports]}, indent=2))
    else:
        print(as_csv(reports) if args.format == "csv" else as_table(reports), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="hotline", description=__doc__)
    parser.add_argument(
        "--config", type=Path, help="TOML configuration file (default: ./hotline.toml if present)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help=cmd_run.__doc__).set_defaults(func=cmd_run)
    sub.add_parser("check-config", help=cmd_check_config.__doc__).set_defaults(
        func=cmd_check_config
    )
    render = sub.add_parser("render-dialplans", help=cmd_render.__doc__)
    render.add_argument("--out", type=Path, required=True, help="directory, e.g. /etc/asterisk")
    render.set_defaults(func=cmd_render)
    proxy = sub.add_parser("render-proxy", help=cmd_render_proxy.__doc__)
    proxy.add_argument("--out", type=Path, required=True, help="directory, e.g. /etc/kamailio")
    proxy.set_defaults(func=cmd_render_proxy)
    demo = sub.add_parser("demo", help=cmd_demo.__doc__)
    demo.add_argument("--dir", default="run/demo", help="where the demo's servers keep files")
    demo.set_defaults(func=cmd_demo)
    phones = sub.add_parser("phones", help=cmd_phones.__doc__)
    phones.add_argument("action", choices=("rotate", "show"))
    phones.add_argument("name", help="the device, NAME of PJSIP/NAME in the agent file")
    phones.add_argument("--qr", type=Path, help="also write the account as a QR code (PNG)")
    phones.set_defaults(func=cmd_phones)
    # SimpleWorker, not the forking Worker: a fork per job costs ~8 ms against ~1.6 ms a job,
    # and a send is I/O-bound; run one process per core for more throughput.
    worker = sub.add_parser("worker", help=cmd_worker.__doc__)
    worker.add_argument(
        "--resolver",
        help="MODULE:FACTORY, FACTORY(settings) -> ref-to-number callable (default: the vault)",
    )
    worker.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    worker.set_defaults(func=cmd_worker)
    purge = sub.add_parser("purge", help=cmd_purge.__doc__)
    purge.add_argument("--schedule", action="store_true", help="also queue the daily purge job")
    purge.set_defaults(func=cmd_purge)
    report = sub.add_parser("report", help=cmd_report.__doc__)
    report.add_argument("--queue", action="append", help="a queue (repeat; default: every one)")
    report.add_argument("--from", dest="start", required=True, help="ISO 8601 date/time (UTC)")
    report.add_argument("--to", dest="end", required=True, help="ISO 8601, end excluded")
    report.add_argument("--by", choices=("hour", "day"), default="hour")
    report.add_argument("--format", choices=("table", "csv", "json"), default="table")
    report.add_argument(
        "--chart", type=Path, help="also draw FILE.png or FILE.svg (one per queue: FILE-QUEUE)"
    )
    report.set_defaults(func=cmd_report)
    export = sub.add_parser("export", help=cmd_export.__doc__)
    export.add_argument("what", choices=("pledges", "receipts"))
    export.add_argument("--campaign", required=True, help="a campaign of [pledges] campaigns")
    export.add_argument("--since", help="ISO 8601 date/time (UTC): pledges made from then on")
    export.add_argument("--format", choices=("csv",), default="csv")
    export.add_argument("--out", type=Path, help="receipts: the new file to write (mode 0600)")
    export.add_argument("--reason", default="", help="receipts: why (written to the audit)")
    export.set_defaults(func=cmd_export)
    sub.add_parser("rotate-keys", help=cmd_rotate_keys.__doc__).set_defaults(func=cmd_rotate_keys)
    db = sub.add_parser("db", help=cmd_db.__doc__)
    db.add_argument("action", choices=("upgrade", "current"))
    db.set_defaults(func=cmd_db)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hotline`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, FlowError, HarnessError, CampaignError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
