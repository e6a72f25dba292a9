"""Connection: verify the credentials against the provider; report Ready and account facts."""

from __future__ import annotations

import asyncio
import imaplib
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from crmsync import metrics
from crmsync.api.v1alpha1.connection import AccountFacts, Provider
from crmsync.k8s.api import KubeApi
from crmsync.k8s.conditions import set_condition
from crmsync.k8s.logs import Logger
from crmsync.providers.factory import Endpoint, open_crm, open_target
from crmsync.providers.http import AuthError, CallStats, ConfigError, ProviderError
from crmsync.reconcile.resolve import NotReadyError, load_endpoint
from crmsync.reconcile.retry import validation_message
from crmsync.reconcile.usage import LEDGER

IMAP_TIMEOUT_SECONDS = 20.0


def _imap_login(endpoint: Endpoint, host: str, port: int, tls: bool) -> dict[str, Any]:
    """A real IMAP LOGIN (then LOGOUT); raises AuthError on rejected credentials."""
    client: imaplib.IMAP4 = (
        imaplib.IMAP4_SSL(host, port, timeout=IMAP_TIMEOUT_SECONDS)
        if tls
        else imaplib.IMAP4(host, port, timeout=IMAP_TIMEOUT_SECONDS)
    )
    try:
        try:
            client.login(endpoint.credentials["username"], endpoint.credentials["password"])
        except imaplib.IMAP4.error:
            raise AuthError(
                "the IMAP server rejected the username or password", vendor="imap"
            ) from None
        return {"account_id": endpoint.credentials["username"], "account_name": host}
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


async def _verify(provider: Provider, endpoint: Endpoint, body: dict[str, Any]) -> dict[str, Any]:
    if provider == Provider.IMAP:
        imap = body["spec"]["imap"]
        return await asyncio.to_thread(
            _imap_login,
            endpoint,
            imap["host"],
            int(imap.get("port", 993)),
            bool(imap.get("tls", True)),
        )
    stats = CallStats(observer=metrics.API_OBSERVER)
    if provider == Provider.ZOHO_CRM:
        async with open_crm(endpoint, stats) as crm:
            return await crm.verify()
    async with open_target(endpoint, stats) as target:
        return await target.verify()


async def verify_connection(kube: KubeApi, body: dict[str, Any], logger: Logger) -> bool:
    """Verify and write the status; True when Ready."""
    meta = body["metadata"]
    namespace, name, generation = meta["namespace"], meta["name"], int(meta.get("generation", 0))
    previous = body.get("status") or {}
    status: dict[str, Any] = {"observedGeneration": generation}
    ready: bool | None
    try:
        resolved = await load_endpoint(kube, namespace, body, max_age=0)
        facts = await _verify(Provider(body["spec"]["provider"]), resolved.endpoint, body)
        ready, reason, message = (
            True,
            "CredentialsVerified",
            f"verified against {body['spec']['provider']}",
        )
        known = {k: v for k, v in facts.items() if k in AccountFacts.model_fields}
        status["account"] = AccountFacts.model_validate(known).to_wire()
        status["lastVerifiedTime"] = datetime.now(UTC).isoformat()
        status["credentialsVersion"] = resolved.secret_version
    except NotReadyError as exc:
        ready, reason, message = False, exc.reason, exc.message
    except AuthError as exc:
        ready, reason, message = False, "AuthenticationFailed", str(exc)
    except ValidationError as exc:
        ready, reason, message = False, "InvalidSpec", validation_message(exc, within=())
    except (ConfigError, httpx.InvalidURL) as exc:
        ready, reason, message = False, "InvalidConfiguration", str(exc)
    except (ProviderError, httpx.HTTPError, OSError) as exc:
        ready, reason, message = None, "ProviderUnreachable", f"{type(exc).__name__}: {exc}"
    status["conditions"] = set_condition(
        previous.get("conditions"), "Ready", ready, reason, message, generation
    )
    metrics.record_verification(namespace, name, str(body["spec"].get("provider", "")), reason)
    await kube.patch_status("connections", namespace, name, status)
    if ready is not True:
        logger.warning("Connection not ready: %s: %s", reason, message)
    return ready is True


async def report_usage(kube: KubeApi, body: dict[str, Any]) -> None:
    """Show today's API usage (requests, 429s) in status.quota when it changed (Z15)."""
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    previous = (body.get("status") or {}).get("quota")
    LEDGER.restore(key, previous)
    quota = {**(previous or {}), **LEDGER.today(key).as_quota().to_wire()}
    if quota != previous:
        await kube.patch_status("connections", meta["namespace"], meta["name"], {"quota": quota})
