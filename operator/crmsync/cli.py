"""The ``crmsync`` command: one entry point for the operator and its tooling."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _sim_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = sub.add_parser("sim", help="local Zoho CRM, Zoho Campaigns and Mailchimp servers")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True)
    serve = sim_sub.add_parser("serve", help="start the servers; print one JSON line when ready")
    serve.add_argument("--data-dir", type=Path, default=Path(".cache/sim"))
    serve.add_argument("--port-zoho-crm", type=int, default=0)
    serve.add_argument("--port-zoho-campaigns", type=int, default=0)
    serve.add_argument("--port-mailchimp", type=int, default=0)
    serve.add_argument("--faults", help="e.g. rate_429=0.05,retry_after_seconds=1,latency_ms=5")
    seed = sim_sub.add_parser("seed", help="generate realistic data into the servers' stores")
    seed.add_argument("--data-dir", type=Path, default=Path(".cache/sim"))
    seed.add_argument("--contacts", type=int, default=1000)
    seed.add_argument("--leads", type=int, default=0)
    seed.add_argument("--accounts", type=int, default=0)
    seed.add_argument("--deals", type=int, default=0)
    seed.add_argument("--random-seed", type=int, default=42)
    seed.add_argument("--only", action="append", help="vendor to seed (repeatable)")
    imap = sim_sub.add_parser(
        "imap", help="a local IMAP server (Dovecot); print one JSON line when ready"
    )
    imap.add_argument("--data-dir", type=Path, default=Path(".cache/imap"))
    imap.add_argument("--port", type=int, default=0, help="on 127.0.0.1 (0: a free one)")
    imap.add_argument(
        "--user", action="append", default=[], metavar="EMAIL:PASSWORD", help="(repeatable)"
    )
    mail = sim_sub.add_parser(
        "demo-mail",
        help="make a mailbox's owner a CRM user and deliver mail to and from CRM contacts",
    )
    mail.add_argument(
        "--sim-info", type=Path, required=True, help="the JSON line `sim serve` printed"
    )
    mail.add_argument("--imap-host", default="127.0.0.1")
    mail.add_argument("--imap-port", type=int, required=True)
    mail.add_argument("--user", required=True, help="the mailbox's IMAP user")
    mail.add_argument("--password", required=True)
    mail.add_argument("--owner", default="", help="the CRM user (default: --user)")
    secrets = sim_sub.add_parser(
        "demo-secrets", help="print the Secrets examples/ names, for the local servers"
    )
    secrets.add_argument(
        "--sim-info", type=Path, required=True, help="the JSON line `sim serve` printed"
    )
    secrets.add_argument("--namespace", default="crmsync-demo")
    secrets.add_argument("--mailbox-user", required=True)
    secrets.add_argument("--mailbox-password", required=True)


def _controlplane_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cp = sub.add_parser("controlplane", help="a local kube-apiserver + etcd (envtest-style)")
    cp_sub = cp.add_subparsers(dest="cp_command", required=True)
    up = cp_sub.add_parser("up", help="start etcd and kube-apiserver; print the kubeconfig")
    up.add_argument("--dir", type=Path, required=True)
    down = cp_sub.add_parser("down", help="stop them; leave no process behind")
    down.add_argument("--dir", type=Path, required=True)


def _shard_name(value: str) -> str:
    from crmsync.sharding import validate

    if not value:
        return ""  # the default instance (argparse passes the default through here too)
    try:
        return validate(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crmsync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    crds = sub.add_parser("crds", help="write the CRDs generated from the API models")
    crds.add_argument("--out", type=Path, default=Path("crds"))
    crds.add_argument("--check", action="store_true", help="fail if the files differ")
    run = sub.add_parser("run", help="run the operator against the current kubeconfig")
    run.add_argument(
        "-n", "--namespace", action="append", default=[], help="watch only these (repeatable)"
    )
    run.add_argument(
        "--all-namespaces", "-A", action="store_true", help="watch every namespace (default)"
    )
    run.add_argument("--liveness", default=None, help="e.g. http://0.0.0.0:8080/healthz")
    run.add_argument("--standalone", action="store_true", help="no peering (a single replica)")
    run.add_argument(
        "--peering",
        default=None,
        metavar="NAME",
        help="kopf peering object shared by the replicas (ClusterKopfPeering when watching all "
        "namespaces, KopfPeering per namespace otherwise; created when missing; default "
        "crmsync, or crmsync-SHARD with --shard)",
    )
    run.add_argument(
        "--shard",
        default="",
        type=_shard_name,
        metavar="NAME",
        help="handle only the objects labelled crmsync.dev/shard=NAME (default: only the "
        "objects without that label)",
    )
    run.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority: the highest live replica reconciles, the others stand by "
        "(default: random per process, as equal priorities would pause all of them)",
    )
    run.add_argument("--verbose", "-v", action="store_true")
    run.add_argument(
        "--metrics-port", type=int, default=9090, help="Prometheus /metrics port (0: off)"
    )
    run.add_argument("--metrics-address", default="0.0.0.0", help="address /metrics binds")
    run.add_argument(
        "--webhook-port",
        type=int,
        default=8443,
        help="port of the CRM notification endpoint (plain HTTP; 0 picks a free one)",
    )
    run.add_argument(
        "--webhook-url",
        default="",
        help="base URL the CRM calls back (default http://127.0.0.1:<port>)",
    )
    plan = sub.add_parser("plan", help="dry run: what a ContactSync would change (changes nothing)")
    plan.add_argument(
        "-f", "--filename", type=Path, required=True, help="a file with one ContactSync"
    )
    plan.add_argument("-n", "--namespace", help="overrides the file's namespace")
    plan.add_argument("--limit", type=int, default=20, help="actions listed per kind")
    plan.add_argument("-o", "--output", choices=("text", "json"), default="text")
    export = sub.add_parser("export-skipped", help="the last run's skipped records as CSV")
    export.add_argument("name", help="the ContactSync")
    export.add_argument("-n", "--namespace", default="default")
    export.add_argument("-o", "--output", help="file to write (default: standard output)")
    send = sub.add_parser("send-mail", help="email a CRM record from a MailboxSync's mailbox")
    send.add_argument("name", help="the MailboxSync whose mailbox sends")
    send.add_argument("-n", "--namespace", default="default")
    send.add_argument("--to-record", required=True, help="Leads/<id>, Contacts/<id> or Deals/<id>")
    send.add_argument("--subject", required=True)
    send.add_argument("--body", required=True)
    send.add_argument("--cc", action="append", default=[])
    _controlplane_parser(sub)
    _sim_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "crds":
        from crmsync.api.crdgen import main_crds

        return main_crds(args.out, check=args.check)
    if args.command == "run":
        from crmsync.operator import main_run

        return main_run(
            namespaces=args.namespace,
            verbose=args.verbose,
            liveness=args.liveness,
            standalone=args.standalone,
            peering=args.peering,
            priority=args.priority,
            shard=args.shard,
            metrics_port=args.metrics_port,
            metrics_address=args.metrics_address,
            webhook_port=args.webhook_port,
            webhook_url=args.webhook_url,
        )
    if args.command == "plan":
        from crmsync.planning import main_plan

        return main_plan(args.filename, args.namespace, args.limit, args.output)
    if args.command == "export-skipped":
        from crmsync.planning import main_export_skipped

        return main_export_skipped(args.name, args.namespace, args.output)
    if args.command == "send-mail":
        from crmsync.mailsend import main_send_mail

        return main_send_mail(
            args.name, args.namespace, args.to_record, args.subject, args.body, args.cc
        )
    if args.command == "controlplane":
        from crmsync.controlplane import main_down, main_up

        return main_up(args.dir) if args.cp_command == "up" else main_down(args.dir)
    if args.command == "sim" and args.sim_command == "imap":
        from crmsync.sim.imap import main_imap

        return main_imap(args.data_dir, args.port, args.user)
    if args.command == "sim" and args.sim_command == "demo-mail":
        from crmsync.sim.demo import main_demo_mail

        return main_demo_mail(
            args.sim_info, args.imap_host, args.imap_port, args.user, args.password, args.owner
        )
    if args.command == "sim" and args.sim_command == "demo-secrets":
        from crmsync.sim.demo import main_demo_secrets

        return main_demo_secrets(
            args.sim_info, args.namespace, args.mailbox_user, args.mailbox_password
        )
    if args.command == "sim":
        from crmsync.sim import serve
        from crmsync.sim.vendor import SeedOptions

        if args.sim_command == "serve":
            ports = {
                "zoho_crm": args.port_zoho_crm,
                "zoho_campaigns": args.port_zoho_campaigns,
                "mailchimp": args.port_mailchimp,
            }
            return serve.main_serve(args.data_dir, ports, args.faults)
        options = SeedOptions(
            contacts=args.contacts,
            leads=args.leads,
            accounts=args.accounts,
            deals=args.deals,
            random_seed=args.random_seed,
        )
        return serve.main_seed(args.data_dir, options, args.only)
    return 2


if __name__ == "__main__":
    sys.exit(main())
