"""The CRD-safe base model and the Kubernetes-flavoured types shared by every kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "crmsync.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "crmsync"

Name = Annotated[str, Field(min_length=1, max_length=253)]
"""The name of another object in the same namespace."""

FieldName = Annotated[str, Field(min_length=1, max_length=128)]
"""An API field name on the CRM or campaign side (``Email``, ``FNAME``, ``Account_Name``)."""


class CrdModel(BaseModel):
    """Base of every schema object: camelCase on the wire, docstrings become descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
        use_enum_values=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-compatible dict as the API server stores it (aliases, no unset None)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def defaulted(model: type[CrdModel], **values: Any) -> Any:
    """A nested object that the API server fills with its defaults when it is absent."""
    default = model(**values)
    return Field(
        default_factory=lambda: default.model_copy(deep=True),
        json_schema_extra={"default": default.to_wire()},
    )


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(CrdModel):
    """One aspect of the object's state, as Kubernetes API conventions define conditions."""

    type: Annotated[str, Field(max_length=316)]
    """The aspect: Ready, Synced, Suspended, CredentialsValid, …"""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, Field(max_length=1024)]
    """A machine-readable CamelCase word for why the status is what it is."""
    message: Annotated[str, Field(max_length=32768)] = ""
    """A human-readable explanation."""
    last_transition_time: datetime
    """When the status last changed."""
    observed_generation: Annotated[int, Field(ge=0)] = 0
    """The metadata.generation this condition was computed for."""


Conditions = Annotated[
    list[Condition],
    Field(
        max_length=16,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    ),
]


class SecretRef(CrdModel):
    """A Secret in the same namespace; its keys are documented where it is used."""

    name: Name
    """The Secret's name."""


class LocalRef(CrdModel):
    """Another crmsync object in the same namespace."""

    name: Name
    """The object's name."""


class ConnectionRef(CrdModel):
    """A Connection in the same namespace."""

    name: Name
    """The Connection's name."""


@dataclass(frozen=True)
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


@dataclass(frozen=True)
class KindInfo:
    """What the CRD generator needs besides the schema."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    printer_columns: tuple[PrinterColumn, ...] = ()
    description: str = ""
    categories: tuple[str, ...] = field(default=(CATEGORY,))


class Resource(CrdModel):
    """A whole custom resource: apiVersion, kind, metadata, spec, status."""

    kind_info: ClassVar[KindInfo]

    api_version: str = API_VERSION
    kind: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
