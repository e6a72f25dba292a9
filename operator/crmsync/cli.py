"""The ``crmsync`` command: one entry point for the operator and its tooling."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

# Sub-commands other distributions add: an entry point in this group names the command
# and points at ``register(subparsers) -> None``, which adds the command's parser and sets
# its ``handler`` default (``handler(args) -> int``). The local test bed (crmsync-testbed,
# ``testbed/`` in the repository) adds ``sim`` and ``controlplane`` this way; the product
# package never imports it.
COMMANDS_GROUP = "crmsync.commands"
TESTBED_COMMANDS = {
    "sim": "local Zoho CRM, Zoho Campaigns and Mailchimp servers",
    "controlplane": "a local kube-apiserver + etcd (envtest-style)",
}
TESTBED_MISSING = (
    "crmsync {command}: the local test bed is not installed: pip install -e ./testbed "
    "(from a checkout of the crmsync repository; hack/venv.sh installs it)"
)


def _plugin_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from importlib.metadata import entry_points

    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        if entry.name in sub.choices:
            continue  # a built-in command (or an earlier plugin) keeps its name
        entry.load()(sub)
    for name, help_text in TESTBED_COMMANDS.items():
        if name not in sub.choices:
            missing = sub.add_parser(name, help=f"{help_text} (not installed)", add_help=False)
            missing.add_argument("rest", nargs=argparse.REMAINDER)
            missing.set_defaults(handler=_testbed_missing)


def _testbed_missing(args: argparse.Namespace) -> int:
    print(TESTBED_MISSING.format(command=args.command), file=sys.stderr)
    return 2


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
    _plugin_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # Known arguments only, so that `crmsync sim …` without the test bed says what is
    # missing instead of failing on arguments nothing parses.
    args, unknown = parser.parse_known_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if unknown and handler is not _testbed_missing:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if handler is not None:
        return handler(args)
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
    return 2


if __name__ == "__main__":
    sys.exit(main())
