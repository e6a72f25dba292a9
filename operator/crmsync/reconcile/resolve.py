"""From names in a spec to usable things: Connections with their Secrets, shared specs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from crmsync.api.v1alpha1.connection import Connection, Provider
from crmsync.api.v1alpha1.contactsync import ContactSyncSpec, FlowDirection, FlowType
from crmsync.api.v1alpha1.fieldmapping import FieldMapping, FieldPair, RelatedRecord
from crmsync.api.v1alpha1.optoutpolicy import OptOutPolicy, OptOutPolicySpec
from crmsync.engine.mapping import check_mapping
from crmsync.engine.ownership import owner_id
from crmsync.engine.records import CrmField
from crmsync.engine.related import unlinked
from crmsync.engine.settings import SyncSettings
from crmsync.k8s.api import KubeApi, NotFoundError
from crmsync.k8s.conditions import condition_status
from crmsync.k8s.secrets import FOR_RUN_SECONDS, MAX_AGE_SECONDS
from crmsync.k8s.watched import CONNECTIONS
from crmsync.providers.base import AudienceTarget, CrmSource
from crmsync.providers.factory import Endpoint
from crmsync.providers.http import ConfigError


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


_PARSED: dict[tuple[str, str], tuple[Mapping[str, Any], Connection]] = {}
"""The last Connection model parsed per Connection, with the body it was parsed from."""


def parsed_connection(body: Mapping[str, Any]) -> Connection:
    """The Connection's model, parsed once per body: every pass of every sync resolves its
    Connections, and the bodies come from kopf's watch or a read cache, which hand out the
    same object until the Connection changes. One model is then shared by all its syncs."""
    meta = body.get("metadata") or {}
    key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
    kept = _PARSED.get(key)
    if kept is not None and kept[0] is body:
        return kept[1]
    connection = Connection.model_validate(body)
    _PARSED[key] = (body, connection)
    return connection


async def load_endpoint(
    kube: KubeApi, namespace: str, body: dict[str, Any], *, max_age: float = MAX_AGE_SECONDS
) -> ResolvedConnection:
    """The Connection's spec plus its Secret's data, read at most ``max_age`` seconds ago
    (:mod:`crmsync.k8s.secrets`); raises NotReadyError with a reason."""
    connection = parsed_connection(body)
    secret_name = connection.spec.credentials_secret_ref.name
    try:
        data, version = await kube.secrets.get(namespace, secret_name, max_age)
    except NotFoundError:
        raise NotReadyError("SecretNotFound", f"Secret {secret_name!r} does not exist") from None
    missing = [k for k in SECRET_KEYS[connection.spec.provider] if not data.get(k)]
    if missing:
        raise NotReadyError(
            "SecretKeyMissing", f"Secret {secret_name!r} lacks key(s) {', '.join(missing)}"
        )
    identity = f"{namespace}/{connection.metadata.get('name', '')}"
    return ResolvedConnection(
        connection, Endpoint.from_connection(connection.spec, data, identity), version, body
    )


def forget_credentials(kube: KubeApi, *connections: ResolvedConnection) -> None:
    """Credentials were refused: their Secrets are read again next time (a rotated Secret
    takes effect at the next try, not when the Connection's timer next reads it)."""
    for resolved in connections:
        meta = resolved.body["metadata"]
        kube.secrets.forget(meta["namespace"], resolved.connection.spec.credentials_secret_ref.name)


async def ready_connection(
    kube: KubeApi,
    namespace: str,
    name: str,
    providers: tuple[Provider, ...],
    role: str,
    max_age: float = MAX_AGE_SECONDS,
) -> ResolvedConnection:
    """A referenced Connection that exists, has a fitting provider and is Ready. A run
    (``max_age`` of FOR_RUN_SECONDS) reads what the API server holds, as a user who just
    changed the Connection expects; other passes take what kopf's watch last showed."""
    watched = CONNECTIONS.get(namespace, name) if max_age > FOR_RUN_SECONDS else None
    try:
        body = watched or await kube.connections.get(namespace, name, FOR_RUN_SECONDS)
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
    return await load_endpoint(kube, namespace, body, max_age=max_age)


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


RELATED_MODULES = {RelatedRecord.ACCOUNT: "Accounts", RelatedRecord.DEAL: "Deals"}


async def resolve_sync(
    kube: KubeApi,
    namespace: str,
    spec: ContactSyncSpec,
    name: str = "",
    max_age: float = MAX_AGE_SECONDS,
) -> tuple[ResolvedConnection, ResolvedConnection, SyncSettings]:
    """Everything a run needs from the cluster, or NotReadyError with the reason. With the
    sync's name, its members carry its claim (shared audiences). ``max_age``: of the
    credentials (a run takes recent ones)."""
    crm = await ready_connection(
        kube, namespace, spec.crm.connection_ref.name, (Provider.ZOHO_CRM,), "CRM", max_age
    )
    target = await ready_connection(
        kube,
        namespace,
        spec.target.connection_ref.name,
        (Provider.MAILCHIMP, Provider.ZOHO_CAMPAIGNS),
        "campaign",
        max_age,
    )
    reads_campaign = (
        spec.flow.type == FlowType.TWO_WAY or spec.flow.direction == FlowDirection.CAMPAIGN_TO_CRM
    )
    if reads_campaign and target.endpoint.provider != Provider.MAILCHIMP:
        raise NotReadyError(
            "FlowNotSupported",
            "two-way and campaign → CRM flows are carried out with Mailchimp audiences; "
            "Zoho Campaigns lists sync CRM → campaign one way",
        )
    if target.endpoint.provider == Provider.MAILCHIMP and not spec.target.list_id:
        raise NotReadyError(
            "AudienceRequired", "a Mailchimp target needs spec.target.listId (the audience id)"
        )
    mapping = await shared_mapping(
        kube, namespace, spec.field_mapping_ref.name if spec.field_mapping_ref else None
    )
    policy = await shared_policy(
        kube, namespace, spec.opt_out_policy_ref.name if spec.opt_out_policy_ref else None
    )
    settings = SyncSettings.resolve(
        spec,
        mapping=mapping,
        policy=policy,
        target_provider=target.endpoint.provider,
        contact_limit=target.contact_limit,
        owner=owner_id(namespace, name) if name else "",
    )
    return crm, target, settings


async def _module_fields(crm: CrmSource, module: str) -> list[CrmField]:
    """The module's fields; ModuleNotFound when the CRM has no such module (Z1)."""
    try:
        fields = await crm.fields(module)
    except ConfigError as exc:
        if exc.status not in (400, 404):
            raise
        fields = []
    if not fields:
        raise NotReadyError("ModuleNotFound", f"spec.crm.module: the CRM has no module {module!r}")
    return fields


async def _related_fields(
    crm: CrmSource, settings: SyncSettings, module_fields: set[str]
) -> dict[RelatedRecord, list[CrmField]]:
    """The fields of the related modules the mapping reads; RelatedRecordMissing when the
    module's records cannot lead to them (Leads name no Account, say)."""
    related: dict[RelatedRecord, list[CrmField]] = {}
    for kind, module in RELATED_MODULES.items():
        if settings.related_fields(kind):
            related[kind] = await crm.fields(module)
    names = {kind: [f.api_name for f in fields] for kind, fields in related.items()}
    missing_links = unlinked(settings.module, related, module_fields, names)
    if missing_links:
        raise NotReadyError(
            "RelatedRecordMissing", "spec.fieldMapping: " + "; ".join(missing_links)
        )
    return related


async def check_fields(
    crm: CrmSource,
    target: AudienceTarget,
    settings: SyncSettings,
    audience: str,
    *,
    create_missing: bool,
) -> None:
    """The module, mapping and consent fields exist and can be mapped (Z1, Z10); with
    create_missing, missing campaign fields are created as text fields."""
    module_fields = await _module_fields(crm, settings.module)
    names = {f.api_name for f in module_fields}
    if settings.email_field not in names:
        raise NotReadyError(
            "EmailFieldMissing",
            f"spec.crm.emailField: module {settings.module} has no field {settings.email_field} (Z1)",
        )
    for index, criterion in enumerate(settings.criteria):
        if criterion.field not in names:
            raise NotReadyError(
                "CriteriaFieldMissing",
                f"spec.crm.criteria[{index}].field: module {settings.module} has no field "
                f"{criterion.field}",
            )
    related = await _related_fields(crm, settings, names)
    problems = check_mapping(settings.mapping, module_fields, related)
    if problems:
        raise NotReadyError("UnmappableField", "; ".join(p.reason for p in problems))
    consent_field = settings.policy.consent.consent_field
    if settings.policy.consent.update_consent_from_crm and not any(
        f.api_name == consent_field for f in module_fields
    ):
        raise NotReadyError(
            "ConsentFieldMissing",
            f"module {settings.module} has no consent field {consent_field}",
        )
    if not create_missing:
        return
    # Mapped campaign fields that do not exist yet are created as text fields ("custom
    # fields addable", Z10); the vendor refuses names it cannot take, with a reason.
    try:
        known = await target.field_names(audience)
    except ConfigError as exc:
        if exc.status != 404:
            raise
        raise NotReadyError(
            "ListNotFound",
            f"spec.target.listId: the campaign service has no list {audience!r} ({exc})",
        ) from None
    # One read of the audience's fields; only a missing one costs more calls.
    for name, label in _campaign_fields(settings):
        if name not in known:
            await target.ensure_text_field(audience, name, label)
            known.add(name)


def _campaign_fields(settings: SyncSettings) -> list[tuple[str, str]]:
    """The campaign fields a sync writes, with the labels they are created with."""
    fields = [(settings.record_id_field, "CRM record (crmsync)")]
    if settings.fingerprint_field:
        fields.append((settings.fingerprint_field, "Last synced values (crmsync)"))
    return fields + [(name, name) for name in sorted({p.campaign_field for p in settings.mapping})]
