"""COQL: ``POST /coql`` with ``{"select_query": "select ... from ... where ..."}``.

Spec: coql.json (``Body_Wrapper``, ``Response_Wrapper``, ``Syntax_Exception``,
``Query_Exception``, ``Limit_Exceeded_Exception``). Docs:
https://www.zoho.com/crm/developer/docs/api/v8/COQL-Overview.html and
https://www.zoho.com/crm/developer/docs/api/v8/Get-Records-through-COQL-Query.html.

Supported subset: ``SELECT f1, f2, Lookup.Field FROM Module [WHERE cond] [ORDER BY f
[ASC|DESC], ...] [LIMIT [offset,] count | LIMIT count OFFSET offset]``; conditions with
AND/OR and parentheses, ``= != <> > >= < <=``, ``[not] like``, ``[not] in (...)``,
``is [not] null``, ``[not] between a and b``. Limits: ≤ 50 selected fields, ≤ 25
criteria, ≤ 100 values in an ``[not] in`` (Kaizen #183, API v7 on), more than two criteria
grouped in pairs with parentheses (``((A and B) and C)``, COQL-Limitations.html and Kaizen
#171), LIMIT ≤ 2000 (default 200), offset + limit ≤ 100,000. A call costs 1 credit up to
LIMIT 200, 2 up to 1,000, 3 up to 2,000 (COQL-Overview.html). No aggregates, no
``select *``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from crmsync_testbed.sim.zoho_crm.context import ctx
from crmsync_testbed.sim.zoho_crm.errors import ZohoError, error_body, required_param_missing_body
from crmsync_testbed.sim.zoho_crm.fields import MODULES, RECORD_MODULES, ModuleDef
from crmsync_testbed.sim.zoho_crm.limits import charge_extra
from crmsync_testbed.sim.zoho_crm.query import (
    Compare,
    Condition,
    Logical,
    QueryError,
    compile_condition,
)
from crmsync_testbed.sim.zoho_crm.records import SORT_COLUMNS
from crmsync_testbed.sim.zoho_crm.store import StoredRecord

MAX_FIELDS = 50
MAX_CRITERIA = 25
MAX_IN_VALUES = 100
LIMIT_CREDITS = ((200, 1), (1000, 2), (2000, 3))
"""(largest LIMIT, credits of the call) tiers."""
MAX_LIMIT = 2000
DEFAULT_LIMIT = 200
MAX_REACH = 100_000
TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.|'')*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op>!=|<>|>=|<=|=|>|<)|(?P<punct>[(),*])|(?P<word>[A-Za-z_$][\w$.]*))"
)
KEYWORDS = {
    "select",
    "from",
    "where",
    "order",
    "by",
    "limit",
    "offset",
    "and",
    "or",
    "not",
    "like",
    "in",
    "is",
    "null",
    "between",
    "asc",
    "desc",
    "true",
    "false",
}


class CoqlSyntaxError(Exception):
    def __init__(
        self, message: str, clause: str | None = None, near: str = "", column: int = 0
    ) -> None:
        super().__init__(message)
        self.clause, self.near, self.column = clause, near, column


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    column: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    text = text.rstrip().rstrip(";")
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise CoqlSyntaxError("invalid query formed", near=text[pos : pos + 10], column=pos)
        kind = match.lastgroup or "word"
        tokens.append(Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


@dataclass
class Query:
    module: ModuleDef
    fields: list[str]
    where: Condition | None = None
    order: list[tuple[str, str]] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.criteria = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise CoqlSyntaxError("invalid query formed", near="end of query")
        self.pos += 1
        return token

    def expect_word(self, word: str, clause: str) -> None:
        token = self.take()
        if token.word != word:
            raise CoqlSyntaxError("invalid query formed", clause, token.text, token.column)

    def accept_word(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.word in words:
            self.pos += 1
            return token.word
        return None

    def accept_punct(self, char: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == char:
            self.pos += 1
            return True
        return False

    def identifier(self, clause: str) -> str:
        token = self.take()
        if token.kind != "word" or token.word in KEYWORDS:
            raise CoqlSyntaxError("invalid query formed", clause, token.text, token.column)
        return token.text

    def parse(self) -> Query:
        self.expect_word("select", "select")
        if self.accept_punct("*"):
            raise CoqlSyntaxError("invalid query formed", "select", "*")
        fields = [self.identifier("select")]
        while self.accept_punct(","):
            fields.append(self.identifier("select"))
        self.expect_word("from", "from")
        module_name = self.identifier("from")
        module = next(
            (MODULES[m] for m in RECORD_MODULES if m.lower() == module_name.lower()), None
        )
        if module is None:
            raise ZohoError(
                400,
                "INVALID_QUERY",
                "invalid query formed",
                {"module": module_name, "reason": "invalid module"},
            )
        query = Query(module, fields)
        if self.accept_word("where"):
            query.where = self.expression()
        if self.accept_word("order"):
            self.expect_word("by", "order by")
            query.order.append(self.order_item())
            while self.accept_punct(","):
                query.order.append(self.order_item())
        if self.accept_word("limit"):
            first = self.number("limit")
            if self.accept_punct(","):
                query.offset, query.limit = first, self.number("limit")
            elif self.accept_word("offset"):
                query.limit, query.offset = first, self.number("offset")
            else:
                query.limit = first
        leftover = self.peek()
        if leftover is not None:
            raise CoqlSyntaxError("invalid query formed", None, leftover.text, leftover.column)
        return query

    def order_item(self) -> tuple[str, str]:
        name = self.identifier("order by")
        return name, self.accept_word("asc", "desc") or "asc"

    def number(self, clause: str) -> int:
        token = self.take()
        if token.kind != "number" or "." in token.text or token.text.startswith("-"):
            raise CoqlSyntaxError("invalid query formed", clause, token.text, token.column)
        return int(token.text)

    def expression(self) -> Condition:
        start = self.peek()
        children = [self.conjunction()]
        while self.accept_word("or"):
            children.append(self.conjunction())
        operands = sum(len(c.children) if isinstance(c, _FlatAnd) else 1 for c in children)
        if operands > 2:
            # Zoho refuses "A or B or C": past two criteria, each pair in parentheses.
            raise CoqlSyntaxError("invalid query formed", "where", start.text if start else "", 0)
        return children[0] if len(children) == 1 else Logical("or", tuple(children))

    def conjunction(self) -> Condition:
        children = [self.factor()]
        while self.accept_word("and"):
            children.append(self.factor())
        if len(children) == 1:
            return children[0]
        return _FlatAnd("and", tuple(children))

    def factor(self) -> Condition:
        if self.accept_punct("("):
            inner = self.expression()
            if not self.accept_punct(")"):
                raise CoqlSyntaxError("invalid query formed", "where", ")")
            return Logical("and", inner.children) if isinstance(inner, _FlatAnd) else inner
        return self.comparison()

    def comparison(self) -> Compare:
        self.criteria += 1
        if self.criteria > MAX_CRITERIA:
            raise ZohoError(
                400,
                "LIMIT_EXCEEDED",
                "criteria limit exceeded",
                {"limit": MAX_CRITERIA, "clause": "where"},
            )
        name = self.identifier("where")
        token = self.take()
        if token.kind == "op":
            op = "!=" if token.text == "<>" else token.text
            return Compare(name, op, (self.literal(),))
        negate = token.word == "not"
        if negate:
            token = self.take()
        if token.word == "is":
            negate = self.accept_word("not") is not None
            self.expect_word("null", "where")
            return Compare(name, "is not null" if negate else "is null")
        if token.word == "like":
            return Compare(name, "not like" if negate else "like", (self.literal(),))
        if token.word == "in":
            if not self.accept_punct("("):
                raise CoqlSyntaxError("invalid query formed", "where", token.text, token.column)
            values = [self.literal()]
            while self.accept_punct(","):
                values.append(self.literal())
            if not self.accept_punct(")"):
                raise CoqlSyntaxError("invalid query formed", "where", ")")
            if len(values) > MAX_IN_VALUES:
                raise ZohoError(
                    400,
                    "LIMIT_EXCEEDED",
                    "in operator values limit exceeded",
                    {"limit": MAX_IN_VALUES, "clause": "where", "column_name": name},
                )
            return Compare(name, "not in" if negate else "in", tuple(values))
        if token.word == "between":
            low = self.literal()
            self.expect_word("and", "where")
            return Compare(name, "not between" if negate else "between", (low, self.literal()))
        raise CoqlSyntaxError("invalid query formed", "where", token.text, token.column)

    def literal(self) -> Any:
        token = self.take()
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'").replace("\\'", "'")
        if token.kind == "number":
            return token.text
        if token.word in ("true", "false"):
            return token.word
        if token.word == "null":
            return None
        raise CoqlSyntaxError("invalid query formed", "where", token.text, token.column)


class _FlatAnd(Logical):
    """An ``and`` chain read without parentheses around it (its operands count at the
    level it sits in); once parenthesised it is a plain :class:`Logical`."""


def limit_credits(limit: int) -> int:
    return next((c for top, c in LIMIT_CREDITS if limit <= top), LIMIT_CREDITS[-1][1])


def _check_column(module: ModuleDef, name: str) -> None:
    base, _, sub = name.partition(".")
    if base == "id":
        return
    fd = module.by_name.get(base)
    target = MODULES.get(fd.lookup or "") if fd is not None else None
    if fd is None or (sub and (target is None or (sub != "id" and sub not in target.by_name))):
        raise ZohoError(
            400, "INVALID_QUERY", "column given seems to be invalid", {"column_name": name}
        )


def _value(store_get: Any, module: ModuleDef, record: StoredRecord, name: str) -> Any:
    if name == "id":
        return str(record.id)
    base, _, sub = name.partition(".")
    value = record.doc.get(base)
    if not sub:
        return value
    if not isinstance(value, dict):
        return None
    if sub == "id":
        return value.get("id")
    target = MODULES[module.by_name[base].lookup or ""]
    linked = store_get(target.api_name, int(value["id"]))
    return None if linked is None else linked.doc.get(sub)


def _order_sql(module: ModuleDef, order: list[tuple[str, str]]) -> str:
    parts = []
    for name, direction in order:
        _check_column(module, name)
        if name in SORT_COLUMNS:
            column = SORT_COLUMNS[name]
        else:
            column = f"json_extract(doc, '$.{name.split('.')[0]}')"
        parts.append(f"{column} {direction.upper()}")
    return ", ".join([*parts, "id ASC"])


async def run_query(request: web.Request) -> web.Response:
    store = ctx(request).store
    try:
        body = await request.json()
    except json.JSONDecodeError:
        body = None
    text = body.get("select_query") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip():
        return web.json_response(
            required_param_missing_body("select_query"),
            status=400,
        )
    try:
        query = Parser(text).parse()
    except CoqlSyntaxError as exc:
        details: dict[str, Any] = (
            {"clause": exc.clause}
            if exc.clause
            else {"line": 1, "column": exc.column, "near": exc.near}
        )
        return web.json_response(
            error_body("SYNTAX_ERROR", "invalid query formed", details), status=400
        )
    module = query.module
    if len(query.fields) > MAX_FIELDS:
        raise ZohoError(
            400,
            "LIMIT_EXCEEDED",
            "select fields limit exceeded",
            {"limit": MAX_FIELDS, "clause": "select"},
        )
    if query.limit > MAX_LIMIT or query.offset + query.limit > MAX_REACH:
        raise ZohoError(
            400, "LIMIT_EXCEEDED", "limit exceeded", {"limit": MAX_LIMIT, "clause": "limit"}
        )
    for name in query.fields:
        _check_column(module, name)
    charge_extra(request, limit_credits(query.limit) - 1)
    where, params = "module = ? AND state = 0 AND converted = 0", (module.api_name,)
    if query.where is not None:
        try:
            condition = compile_condition(module, query.where)
        except QueryError as exc:
            raise ZohoError(
                400, "INVALID_QUERY", str(exc).split(":")[0], {"column_name": exc.column or ""}
            ) from None
        where, params = f"{where} AND {condition.text}", (*params, *condition.params)
    rows = store.select(
        where, params, _order_sql(module, query.order), query.limit + 1, query.offset
    )
    if not rows:
        return web.Response(status=204)
    data = [
        {name: _value(store.get, module, r, name) for name in ("id", *query.fields)}
        for r in rows[: query.limit]
    ]
    return web.json_response(
        {"data": data, "info": {"count": len(data), "more_records": len(rows) > query.limit}}
    )
