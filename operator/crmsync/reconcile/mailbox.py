"""MailboxSync: capture a mailbox's mail to and from CRM records (G1–G7).

One long-lived loop per MailboxSync (a kopf daemon). Each pass re-reads the object, the
Connections and their Secrets (a rotated password is used on the next pass, G7), checks
the owner is an active CRM user (G6), refreshes the address index, and scans every folder
from its last UID (a changed UIDVALIDITY re-scans the folder; Message-IDs already on a
record are skipped). Between passes it waits for the poll interval, or less: an IDLE
watcher per folder wakes it when a folder changes, and so does a spec change.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from crmsync.api.v1alpha1.connection import Connection, Provider
from crmsync.api.v1alpha1.mailboxsync import (
    FolderState,
    MailboxCounts,
    MailboxSyncSpec,
    MailboxSyncStatus,
    Visibility,
)
from crmsync.engine.backoff import LONGEST_RETRY
from crmsync.engine.mail import CaptureContext, MailFacts, decide, note_for, parse_message
from crmsync.engine.schedule import parse_duration
from crmsync.k8s.api import KubeApi, NotFoundError
from crmsync.k8s.conditions import RECONCILING
from crmsync.k8s.logs import Logger
from crmsync.k8s.secrets import FOR_RUN_SECONDS
from crmsync.providers.factory import open_crm
from crmsync.providers.http import AuthError, CallStats, ConfigError, ProviderError
from crmsync.providers.imap import (
    FETCH_BATCH,
    FetchedMessage,
    IdleWatcher,
    ImapAccount,
    ImapMailbox,
)
from crmsync.providers.zoho_crm import ZohoCrm
from crmsync.reconcile import mailmetrics
from crmsync.reconcile.live import LiveObject
from crmsync.reconcile.mailcrm import (
    IndexedCrm,
    find_user,
    ledger_for,
    load_seen,
    write_notes,
)
from crmsync.reconcile.resolve import (
    NotReadyError,
    ResolvedConnection,
    load_endpoint,
    ready_connection,
)
from crmsync.reconcile.retry import back_off, clear_retry, current_retry, validation_message
from crmsync.reconcile.waiting import stop_waiting, wait_for_connections

PLURAL = "mailboxsyncs"
STATUS_EVERY_SECONDS = 1.0
COUNTER_OF = {"captured": "captured", "duplicate": "duplicates", "unmatched": "unmatched"}


@dataclass
class MailboxSignals:
    """Per-object state shared by the daemon and the event handlers (kopf's memo)."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dependency_changed: bool = False
    """A Connection became Ready while this loop backed off."""


@dataclass
class Session:
    """An open mailbox: the scanning connection and the IDLE watchers."""

    account: ImapAccount
    box: ImapMailbox
    watchers: list[IdleWatcher] = field(default_factory=list)

    def close(self) -> None:
        for watcher in self.watchers:
            watcher.stop()
        self.box.close()


async def mailbox_connection(kube: KubeApi, namespace: str, name: str) -> ImapAccount:
    """The imap Connection and its Secret. Its Ready condition is not required: our own
    LOGIN tells a wrong password (AuthenticationFailed) from an unreachable server."""
    try:
        body = await kube.get_custom("connections", namespace, name)
    except NotFoundError:
        raise NotReadyError(
            "ConnectionNotFound", f"mailbox Connection {name!r} does not exist"
        ) from None
    if body.get("spec", {}).get("provider") != Provider.IMAP:
        raise NotReadyError("WrongProvider", f"mailbox Connection {name!r} is not provider imap")
    resolved: ResolvedConnection = await load_endpoint(
        kube, namespace, body, max_age=FOR_RUN_SECONDS
    )
    imap = Connection.model_validate(body).spec.imap
    assert imap is not None  # the CRD's validation requires it for provider imap
    return ImapAccount(
        host=imap.host,
        port=imap.port,
        tls=imap.tls,
        username=resolved.endpoint.credentials["username"],
        password=resolved.endpoint.credentials["password"],
        smtp_host=imap.smtp_host,
        smtp_port=imap.smtp_port,
    )


def fetch_and_parse(
    box: ImapMailbox, uids: list[int], excerpt_length: int
) -> list[tuple[FetchedMessage, MailFacts]]:
    """One batch, in the IMAP thread (parsing is CPU work too)."""
    return [
        (m, parse_message(m.raw, excerpt_length=excerpt_length, gm_thrid=m.gm_thrid))
        for m in box.fetch(uids)
    ]


class MailboxReconciler(LiveObject):
    plural = PLURAL

    def __init__(
        self, kube: KubeApi, body: Mapping[str, Any], logger: Logger, signals: MailboxSignals
    ) -> None:
        self.kube = kube
        self.live_body = body
        self.logger = logger
        self.signals = signals
        self.written = None
        self.session: Session | None = None
        self.crm_index: IndexedCrm | None = None
        self.loop = asyncio.get_running_loop()

    # -- the loop ----------------------------------------------------------------------

    async def run_forever(self, stopped: Any) -> None:
        try:
            while not stopped:
                try:
                    delay = await self.step()
                except Exception as exc:  # a bug must neither end capture nor spin it
                    delay = await self._unexpected(exc)
                self.signals.wake.clear()
                try:
                    await asyncio.wait_for(self.signals.wake.wait(), timeout=delay)
                except TimeoutError:
                    pass
        finally:
            meta = self.live_body["metadata"]
            stop_waiting(meta["namespace"], PLURAL, meta["name"])
            await self.close_session()

    async def close_session(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            await asyncio.to_thread(session.close)

    async def step(self) -> float:
        body = self.snapshot()
        namespace = body["metadata"]["namespace"]
        try:
            spec = MailboxSyncSpec.model_validate(body["spec"])
        except ValidationError as exc:
            return await self._not_ready(body, "InvalidSpec", validation_message(exc))
        if spec.suspend:
            await self.close_session()
            await self._conditions(
                body,
                ("Suspended", True, "SuspendedBySpec", "spec.suspend is true; capture is paused"),
            )
            return 3600.0
        poll = parse_duration(spec.poll_interval).total_seconds()
        try:
            account = await mailbox_connection(
                kube=self.kube, namespace=namespace, name=spec.mailbox_ref.name
            )
            crm_conn = await ready_connection(
                self.kube, namespace, spec.crm.name, (Provider.ZOHO_CRM,), "CRM"
            )
            organisation = "|".join(
                (crm_conn.endpoint.api_base_url or "", crm_conn.endpoint.data_center or "",
                 crm_conn.endpoint.credentials.get("clientId", ""))
            )  # fmt: skip
            async with open_crm(crm_conn.endpoint, CallStats()) as crm:
                delay = await self.capture_pass(body, spec, account, crm, poll, organisation)
        except NotReadyError as exc:
            await self.close_session()
            return await self._not_ready(body, exc.reason, exc.message)
        except AuthError as exc:
            await self.close_session()
            self.kube.secrets.forget_namespace(namespace)
            reason = "AuthenticationFailed" if exc.vendor == "imap" else "CrmAuthenticationFailed"
            return await self._not_ready(body, reason, str(exc))
        except (ConfigError, ProviderError, httpx.HTTPError, OSError) as exc:
            await self.close_session()
            return await self._not_ready(
                body, "Unreachable", f"{type(exc).__name__}: {exc}", ready=None
            )
        stop_waiting(namespace, PLURAL, body["metadata"]["name"])
        await clear_retry(self, self.snapshot())
        return delay

    # -- one pass ----------------------------------------------------------------------

    async def open_session(
        self, account: ImapAccount, spec: MailboxSyncSpec, poll: float
    ) -> Session:
        if self.session is not None and self.session.account == account:
            return self.session
        await self.close_session()  # a new password, host or user: log in again (G7)
        box = await asyncio.to_thread(ImapMailbox, account)
        session = Session(account, box)
        if spec.use_idle and box.supports_idle:
            for folder in spec.folders:
                watcher = IdleWatcher(
                    account, folder, self._wake_from_thread, timeout=max(poll, 60.0)
                )
                watcher.start()
                session.watchers.append(watcher)
        self.session = session
        return session

    def _wake_from_thread(self) -> None:
        self.loop.call_soon_threadsafe(self.signals.wake.set)

    async def capture_pass(
        self,
        body: dict[str, Any],
        spec: MailboxSyncSpec,
        account: ImapAccount,
        crm: ZohoCrm,
        poll: float,
        organisation: str,
    ) -> float:
        owner = await find_user(crm, spec.owner)
        if owner is None:
            raise NotReadyError("OwnerNotFound", f"{spec.owner} is not a user of the CRM")
        if not owner.active:
            raise NotReadyError(
                "OwnerDeactivated",
                f"{spec.owner} is a deactivated CRM user: nothing is captured and earlier captures are hidden",
            )
        session = await self.open_session(account, spec, poll)
        status = MailboxSyncStatus.model_validate(body.get("status") or {})
        if status.last_scan_time is None:
            await self._abnormal(body, RECONCILING, True, "FirstScan", "the first scan of the mailbox is under way")  # fmt: skip
            body = self.snapshot()
        folders = {f.name: f for f in status.folders}
        patch: dict[str, Any] = {"ownerUserId": owner.id, "idle": bool(session.watchers)}
        if status.mailbox_identity and status.mailbox_identity != account.identity:
            # Another mailbox: its UIDs mean nothing here; the old one is not read again (G6).
            folders = {}
            await self._event(
                body, "Normal", "MailboxChanged",
                f"mailbox changed from {status.mailbox_identity} to {account.identity}; "
                "the previous mailbox's mail is no longer imported",
            )  # fmt: skip
        patch["mailboxIdentity"] = account.identity
        if self.crm_index is None or self.crm_index.modules != tuple(spec.modules):
            self.crm_index = IndexedCrm(tuple(str(m) for m in spec.modules))
        await self.crm_index.refresh(crm)
        ctx = CaptureContext(
            mailbox=f"{account.username}@{account.host}",
            owner_id=owner.id,
            visibility="private" if spec.visibility == Visibility.PRIVATE else "shared",
            own_addresses=tuple(a for a in (account.username, spec.owner) if "@" in a),
        )
        scan = FolderScan(self, body, spec, crm, ctx, status.counts, folders, patch)
        scan.organisation = organisation
        errors = [e for folder in spec.folders if (e := await scan.folder(session.box, folder))]
        scan.patch["lastScanTime"] = datetime.now(UTC).isoformat()
        scan.patch["lastError"] = "; ".join(errors)[:4000]
        generation = int(body["metadata"].get("generation", 0))
        scan.patch["observedGeneration"] = generation
        await scan.flush(force=True)
        await self._abnormal(self.snapshot(), RECONCILING, False)
        await self._conditions(
            self.snapshot(),
            ("Ready", True, "Capturing", f"{account.identity} → CRM as {spec.owner}"),
            ("Suspended", False, "Active", "capture runs"),
            ("Synced", not errors, "ScanFailed" if errors else "Scanned", "; ".join(errors)[:1000] or "all folders scanned"),
        )  # fmt: skip
        return poll

    # -- status helpers ----------------------------------------------------------------

    async def _not_ready(
        self, body: dict[str, Any], reason: str, message: str, ready: bool | None = False
    ) -> float:
        """Ready=False (or Unknown) with the reason, one Event, and seconds until the next
        try, backing off while the failure repeats."""
        current = (body.get("status") or {}).get("lastError")
        if current != message:
            await self.patch_status(body, {"lastError": message[:4000]})
            body = self.snapshot()
        meta = body["metadata"]
        wait_for_connections(meta["namespace"], PLURAL, meta["name"], self.signals)
        retry = await back_off(self, body, reason, message, condition=("Ready", ready))
        return max(0.0, (retry - datetime.now(UTC)).total_seconds())

    async def _unexpected(self, exc: Exception) -> float:
        """Reported like any failure, the traceback logged once per reason."""
        await self.close_session()
        body = self.snapshot()
        retry = current_retry(body)
        if retry is None or retry.reason != "ReconcileError":
            self.logger.exception("mailbox pass failed")
        try:
            return await self._not_ready(body, "ReconcileError", f"{type(exc).__name__}: {exc}")
        except Exception:
            self.logger.warning("mailbox pass failed and its status was not written: %s", exc)
            return LONGEST_RETRY.total_seconds()


class FolderScan:
    """Scans folders of one pass and keeps the status patch (counts, folder positions)."""

    def __init__(
        self,
        reconciler: MailboxReconciler,
        body: dict[str, Any],
        spec: MailboxSyncSpec,
        crm: ZohoCrm,
        ctx: CaptureContext,
        counts: MailboxCounts,
        folders: dict[str, FolderState],
        patch: dict[str, Any],
    ) -> None:
        self.r = reconciler
        self.body = body
        self.spec = spec
        self.crm = crm
        self.ctx = ctx
        self.counts = counts.model_copy()
        self.folders = folders
        self.patch = patch
        self.last_flush = 0.0
        self.organisation = ""
        meta = body["metadata"]
        self.labels = (meta["namespace"], meta["name"])

    async def flush(self, *, force: bool = False) -> None:
        if not force and time.monotonic() - self.last_flush < STATUS_EVERY_SECONDS:
            return
        self.patch["counts"] = self.counts.to_wire()
        self.patch["folders"] = [
            self.folders[f].to_wire() for f in self.spec.folders if f in self.folders
        ]
        await self.r.patch_status(self.body, self.patch)
        self.last_flush = time.monotonic()

    async def folder(self, box: ImapMailbox, name: str) -> str:
        """Scan one folder from its last UID; returns an error message or ""."""
        try:
            state = await asyncio.to_thread(box.select, name)
        except ProviderError as exc:
            return f"{name}: {exc}"
        known = self.folders.get(name)
        if known is None or known.uid_validity != state.uid_validity:
            if known is not None:
                await self.r._event(
                    self.body, "Normal", "FolderReset",
                    f"{name}: UIDVALIDITY changed ({known.uid_validity} → {state.uid_validity}); re-scanning, duplicates are skipped",
                )  # fmt: skip
            known = FolderState(name=name, uid_validity=state.uid_validity, last_uid=0)
            self.folders[name] = known
        uids = await asyncio.to_thread(box.uids_after, known.last_uid)
        ctx = CaptureContext(
            self.ctx.mailbox, self.ctx.owner_id, self.ctx.visibility, self.ctx.own_addresses, name
        )
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            parsed = await asyncio.to_thread(fetch_and_parse, box, batch, self.spec.excerpt_length)
            error = await self.capture(parsed, ctx)
            self.folders[name] = known = known.model_copy(update={"last_uid": max(batch)})
            mailmetrics.LAST_UID.labels(*self.labels, name).set(max(batch))
            if error:
                self.patch["lastError"] = error[:4000]
            await self.flush()
        return ""

    async def capture(
        self, parsed: list[tuple[FetchedMessage, MailFacts]], ctx: CaptureContext
    ) -> str:
        assert self.r.crm_index is not None
        index = self.r.crm_index.index
        since = self.spec.since
        wanted = [
            (facts, index.match(facts.participants, self.spec.modules, ctx.own_addresses))
            for _, facts in parsed
            if since is None or facts.date is None or facts.date >= since
        ]
        self.counts.scanned += len(parsed)
        mailmetrics.MESSAGES.labels(*self.labels, "scanned").inc(len(parsed))
        ledger = ledger_for(self.organisation)
        errors: list[str] = []
        async with ledger.lock:
            await load_seen(self.crm, ledger, [r for _, refs in wanted for r in refs])
            notes = []
            batch_seen: dict[str, set[str]] = {k: set(v) for k, v in ledger.seen.items()}
            for facts, refs in wanted:
                decision = decide(refs, facts.message_id, batch_seen)
                outcome = decision.outcome
                counter = COUNTER_OF[outcome]
                setattr(self.counts, counter, getattr(self.counts, counter) + 1)
                mailmetrics.MESSAGES.labels(*self.labels, outcome).inc()
                for ref in decision.new:
                    batch_seen.setdefault(ref.record_id, set()).add(facts.message_id)
                    notes.append(note_for(facts, ref, ctx))
            _, errors = await write_notes(self.crm, ledger, notes)
        if notes and not errors:
            self.patch["lastCaptureTime"] = datetime.now(UTC).isoformat()
        return "; ".join(errors)
