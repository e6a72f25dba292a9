"""Conditions on records, compiled to SQL over the JSON documents.

Both the search ``criteria`` (``(Email:equals:a@b.c)and(...)``) and COQL's WHERE clause
parse into the same small tree (:class:`Compare`, :class:`Logical`), compiled here.
Comparisons on text are case-insensitive, as Zoho's are (Unicode lower case on both
sides); in ``like`` patterns a backslash escapes ``%``, ``_`` and itself. ``Email``
equality uses the indexed normalised-email column; ``Modified_Time`` / ``Created_Time`` use the indexed
millisecond columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmsync_testbed.sim.fakedata import normalise_email
from crmsync_testbed.sim.zoho_crm.fields import FieldDef, ModuleDef
from crmsync_testbed.sim.zoho_crm.store import parse_zoho_time

OPERATORS = (
    "=",
    "!=",
    "like",
    "not like",
    "in",
    "not in",
    "is null",
    "is not null",
    "between",
    "not between",
    ">",
    ">=",
    "<",
    "<=",
)
TIME_COLUMNS = {"Modified_Time": "modified_ms", "Created_Time": "created_ms"}
NUMERIC_TYPES = ("integer", "double", "currency", "bigint")


class QueryError(Exception):
    """A condition that names an unknown field or a value of the wrong type."""

    def __init__(self, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


@dataclass(frozen=True)
class Compare:
    field: str
    operator: str
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Logical:
    operator: str  # "and" | "or"
    children: tuple[Condition, ...]


Condition = Compare | Logical


@dataclass(frozen=True)
class Sql:
    text: str
    params: tuple[Any, ...] = ()


def _field(module: ModuleDef, name: str) -> FieldDef | None:
    base = name.split(".", 1)[0]
    if base == "id":
        return None
    field = module.by_name.get(base)
    if field is None:
        raise QueryError(f"column given seems to be invalid: {name}", name)
    return field


def _column(module: ModuleDef, name: str) -> tuple[str, FieldDef | None]:
    """SQL expression of a field, and its definition (``None`` for ``id``)."""
    field = _field(module, name)
    if field is None:
        return "id", None
    if field.api_name in TIME_COLUMNS:
        return TIME_COLUMNS[field.api_name], field
    if field.json_type == "jsonobject":
        return f"json_extract(doc, '$.{field.api_name}.id')", field
    return f"json_extract(doc, '$.{field.api_name}')", field


def _value(field: FieldDef | None, raw: Any) -> Any:
    """A literal converted to what the column holds."""
    if raw is None:
        return None
    if field is None:
        try:
            return int(str(raw))
        except ValueError:
            raise QueryError(f"value given seems to be invalid for the column: {raw}") from None
    if field.api_name in TIME_COLUMNS:
        try:
            return parse_zoho_time(str(raw))
        except ValueError:
            raise QueryError(f"value given seems to be invalid for the column: {raw}") from None
    if field.data_type == "boolean":
        text = str(raw).lower()
        if text not in ("true", "false"):
            raise QueryError(f"value given seems to be invalid for the column: {raw}")
        return 1 if text == "true" else 0
    if field.data_type in NUMERIC_TYPES:
        try:
            return float(raw)
        except ValueError:
            raise QueryError(f"value given seems to be invalid for the column: {raw}") from None
    return str(raw).lower()


def _is_text(field: FieldDef | None) -> bool:
    return (
        field is not None and field.api_name not in TIME_COLUMNS and (field.json_type == "string")
    )


def compile_condition(module: ModuleDef, condition: Condition) -> Sql:
    if isinstance(condition, Logical):
        parts = [compile_condition(module, c) for c in condition.children]
        joiner = f" {condition.operator.upper()} "
        return Sql(
            "(" + joiner.join(p.text for p in parts) + ")",
            tuple(v for p in parts for v in p.params),
        )
    return _compile_compare(module, condition)


def _compile_compare(module: ModuleDef, cmp: Compare) -> Sql:
    column, field = _column(module, cmp.field)
    op = cmp.operator
    if op in ("is null", "is not null"):
        empty = f"({column} IS NULL OR {column} = '')" if _is_text(field) else f"{column} IS NULL"
        return Sql(empty if op == "is null" else f"NOT {empty}")
    if field is not None and field.data_type == "email" and op in ("=", "!=", "in", "not in"):
        keys = tuple(normalise_email(str(v)) for v in cmp.values)
        column = "email_key" if field.api_name == module.email_field else f"unicode_lower({column})"
        return _membership(column, op, keys)
    if _is_text(field):
        column = f"unicode_lower({column})"
    values = tuple(_value(field, v) for v in cmp.values)
    if op in ("=", "!=", "in", "not in"):
        return _membership(column, op, values)
    if op in ("like", "not like"):
        negate = "NOT " if op == "not like" else ""
        return Sql(f"{negate}{column} LIKE ? ESCAPE '\\'", values[:1])
    if op in ("between", "not between"):
        negate = "NOT " if op == "not between" else ""
        return Sql(f"{negate}({column} BETWEEN ? AND ?)", values[:2])
    return Sql(f"{column} {op} ?", values[:1])


def _membership(column: str, op: str, values: tuple[Any, ...]) -> Sql:
    marks = ", ".join("?" for _ in values)
    if op in ("=", "in"):
        return Sql(f"{column} IN ({marks})", values)
    return Sql(f"({column} IS NULL OR {column} NOT IN ({marks}))", values)


# --- search criteria: (Field:operator:value)and((...)or(...)) --------------------------

CRITERIA_OPERATORS = {
    "equals": "=",
    "not_equal": "!=",
    "in": "in",
    "not_in": "not in",
    "starts_with": "like",
    "greater_than": ">",
    "greater_equal": ">=",
    "less_than": "<",
    "less_equal": "<=",
    "between": "between",
}


class CriteriaParser:
    """Recursive-descent parser of the search API's ``criteria`` parameter.

    https://www.zoho.com/crm/developer/docs/api/v8/search-records.html: ``(`` field ``:``
    operator ``:`` value ``)``, groups joined by ``and`` / ``or``, ``\\(`` ``\\)`` ``\\,``
    escaped inside values, comma-separated values for ``in`` and ``between``.
    """

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self.pos = 0

    def parse(self) -> Condition:
        condition = self._expression()
        if self.pos != len(self.text):
            raise QueryError(f"unexpected text at {self.pos}: {self.text[self.pos :]!r}")
        return condition

    def _expression(self) -> Condition:
        children = [self._group()]
        operators = set()
        while self.pos < len(self.text):
            rest = self.text[self.pos :].lower()
            word = "and" if rest.startswith("and") else "or" if rest.startswith("or") else None
            if word is None:
                break
            operators.add(word)
            self.pos += len(word)
            children.append(self._group())
        if len(operators) > 1:
            raise QueryError("mixing and/or needs parentheses")
        if len(children) == 1:
            return children[0]
        return Logical(operators.pop(), tuple(children))

    def _group(self) -> Condition:
        if self.pos >= len(self.text) or self.text[self.pos] != "(":
            raise QueryError(f"expected '(' at {self.pos}")
        self.pos += 1
        if self.text[self.pos : self.pos + 1] == "(":
            inner = self._expression()
        else:
            inner = self._comparison()
        if self.text[self.pos : self.pos + 1] != ")":
            raise QueryError(f"expected ')' at {self.pos}")
        self.pos += 1
        return inner

    def _comparison(self) -> Compare:
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append("\\" + self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == ")":
                break
            chars.append(char)
            self.pos += 1
        body = "".join(chars)
        field, _, rest = body.partition(":")
        operator, _, raw_value = rest.partition(":")
        if not field or operator not in CRITERIA_OPERATORS:
            raise QueryError(f"invalid criteria: ({body})")
        op = CRITERIA_OPERATORS[operator]
        values = (
            _split_values(raw_value)
            if op in ("in", "not in", "between")
            else [_unescape(raw_value)]
        )
        if operator == "starts_with":
            values = [values[0].replace("%", "\\%") + "%"]
        return Compare(field.strip(), op, tuple(values))


def _unescape(text: str) -> str:
    return text.replace("\\(", "(").replace("\\)", ")").replace("\\,", ",")


def _split_values(text: str) -> list[str]:
    values, current, index = [], "", 0
    while index < len(text):
        if text[index] == "\\" and index + 1 < len(text):
            current += text[index : index + 2]
            index += 2
            continue
        if text[index] == ",":
            values.append(_unescape(current))
            current = ""
        else:
            current += text[index]
        index += 1
    values.append(_unescape(current))
    return values
