"""From names in a spec to usable things: Connections with their Secrets, shared specs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from crmsync.api.v1alpha1.connection import Connection, Provider
from crmsync.api.v1alpha1.fieldmapping import FieldMapping, FieldPair
from crmsync.api.v1alpha1.optoutpolicy import OptOutPolicy, OptOutPolicySpec
from crmsync.k8s.api import KubeApi, NotFoundError
from crmsync.k8s.conditions import condition_status
from crmsync.providers.factory import Endpoint


class NotReadyError(Exception):
    """A reference that cannot be used yet; reason is a CamelCase condition reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


SECRET_KEYS: dict[str, tuple[str, ...]] = {
    Provider.ZOHO_CRM: ("clientId", "clientSecret", "refreshToken"),
    Provider.ZOHO_CAMPAIGNS: ("clientId", "clientSecret", "refreshToken"),
    Provider.MAILCHIMP: ("apiKey",),
    Provider.IMAP: ("username", "password"),
}


@dataclass(frozen=True)
class ResolvedConnection:
    connection: Connection
    endpoint: Endpoint
    secret_version: str
    body: dict[str, Any]

    @property
    def contact_limit(self) -> int:
        account = (self.body.get("status") or {}).get("account") or {}
        return int(account.get("contactLimit") or 0)


async def load_endpoint(kube: KubeApi, namespace: str, body: dict[str, Any]) -> ResolvedConnection:
    """The Connection's spec plus its Secret's data; raises NotReadyError with a reason."""
    connection = Connection.model_validate(body)
    secret_name = connection.spec.credentials_secret_ref.name
    try:
        data, version = await kube.read_secret(namespace, secret_name)
    except NotFoundError:
        raise NotReadyError("SecretNotFound", f"Secret {secret_name!r} does not exist") from None
    missing = [k for k in SECRET_KEYS[connection.spec.provider] if not data.get(k)]
    if missing:
        raise NotReadyError(
            "SecretKeyMissing", f"Secret {secret_name!r} lacks key(s) {', '.join(missing)}"
        )
    return ResolvedConnection(
        connection, Endpoint.from_connection(connection.spec, data), version, body
    )


async def ready_connection(
    kube: KubeApi, namespace: str, name: str, providers: tuple[Provider, ...], role: str
) -> ResolvedConnection:
    """A referenced Connection that exists, has a fitting provider and is Ready."""
    try:
        body = await kube.get_custom("connections", namespace, name)
    except NotFoundError:
        raise NotReadyError(
            "ConnectionNotFound", f"{role} Connection {name!r} does not exist"
        ) from None
    provider = body.get("spec", {}).get("provider")
    if provider not in providers:
        wanted = " or ".join(providers)
        raise NotReadyError(
            "WrongProvider", f"{role} Connection {name!r} is {provider}, needs {wanted}"
        )
    if condition_status((body.get("status") or {}).get("conditions"), "Ready") != "True":
        raise NotReadyError("ConnectionNotReady", f"{role} Connection {name!r} is not Ready yet")
    return await load_endpoint(kube, namespace, body)


async def shared_mapping(
    kube: KubeApi, namespace: str, name: str | None
) -> tuple[FieldPair, ...] | None:
    if name is None:
        return None
    try:
        body = await kube.get_custom("fieldmappings", namespace, name)
        return tuple(FieldMapping.model_validate(body).spec.fields)
    except NotFoundError:
        raise NotReadyError(
            "FieldMappingNotFound", f"FieldMapping {name!r} does not exist"
        ) from None
    except ValidationError as exc:
        raise NotReadyError(
            "FieldMappingInvalid", f"FieldMapping {name!r}: {exc.errors()[0]['msg']}"
        ) from None


async def shared_policy(kube: KubeApi, namespace: str, name: str | None) -> OptOutPolicySpec | None:
    if name is None:
        return None
    try:
        body = await kube.get_custom("optoutpolicies", namespace, name)
        return OptOutPolicy.model_validate(body).spec
    except NotFoundError:
        raise NotReadyError(
            "OptOutPolicyNotFound", f"OptOutPolicy {name!r} does not exist"
        ) from None
