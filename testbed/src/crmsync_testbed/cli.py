"""The test bed's ``crmsync`` sub-commands: ``crmsync sim …`` and ``crmsync controlplane …``.

``crmsync`` finds them through the ``crmsync.commands`` entry points this distribution
declares (``testbed/pyproject.toml``); each ``register_*`` adds its parser and a handler.
Imports of the servers stay inside the handlers, so ``crmsync --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register_sim(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``crmsync sim …``: the local vendor servers, Dovecot and the demo's set-up."""
    sim = sub.add_parser("sim", help="local Zoho CRM, Zoho Campaigns and Mailchimp servers")
    sim.set_defaults(handler=main_sim)
    sim_sub = sim.add_subparsers(dest="sim_command", required=True)
    serve = sim_sub.add_parser("serve", help="start the servers; print one JSON line when ready")
    serve.add_argument("--data-dir", type=Path, default=Path(".cache/sim"))
    serve.add_argument("--port-zoho-crm", type=int, default=0)
    serve.add_argument("--port-zoho-campaigns", type=int, default=0)
    serve.add_argument("--port-mailchimp", type=int, default=0)
    serve.add_argument("--faults", help="e.g. rate_429=0.05,retry_after_seconds=1,latency_ms=5")
    serve.add_argument(
        "--vendor",
        action="append",
        choices=("zoho_crm", "zoho_campaigns", "mailchimp"),
        help="serve only this vendor (repeatable; default: all)",
    )
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


def register_controlplane(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``crmsync controlplane up|down``: a real local kube-apiserver + etcd."""
    cp = sub.add_parser("controlplane", help="a local kube-apiserver + etcd (envtest-style)")
    cp.set_defaults(handler=main_controlplane)
    cp_sub = cp.add_subparsers(dest="cp_command", required=True)
    up = cp_sub.add_parser("up", help="start etcd and kube-apiserver; print the kubeconfig")
    up.add_argument("--dir", type=Path, required=True)
    down = cp_sub.add_parser("down", help="stop them; leave no process behind")
    down.add_argument("--dir", type=Path, required=True)


def main_controlplane(args: argparse.Namespace) -> int:
    from crmsync_testbed.controlplane import main_down, main_up

    return main_up(args.dir) if args.cp_command == "up" else main_down(args.dir)


def main_sim(args: argparse.Namespace) -> int:
    if args.sim_command == "imap":
        from crmsync_testbed.sim.imap import main_imap

        return main_imap(args.data_dir, args.port, args.user)
    if args.sim_command == "demo-mail":
        from crmsync_testbed.sim.demo import main_demo_mail

        return main_demo_mail(
            args.sim_info, args.imap_host, args.imap_port, args.user, args.password, args.owner
        )
    if args.sim_command == "demo-secrets":
        from crmsync_testbed.sim.demo import main_demo_secrets

        return main_demo_secrets(
            args.sim_info, args.namespace, args.mailbox_user, args.mailbox_password
        )
    from crmsync_testbed.sim import serve
    from crmsync_testbed.sim.vendor import SeedOptions

    if args.sim_command == "serve":
        ports = {
            "zoho_crm": args.port_zoho_crm,
            "zoho_campaigns": args.port_zoho_campaigns,
            "mailchimp": args.port_mailchimp,
        }
        return serve.main_serve(args.data_dir, ports, args.faults, args.vendor)
    options = SeedOptions(
        contacts=args.contacts,
        leads=args.leads,
        accounts=args.accounts,
        deals=args.deals,
        random_seed=args.random_seed,
    )
    return serve.main_seed(args.data_dir, options, args.only)
