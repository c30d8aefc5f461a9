"""Grants as the database keeps them (rows of kind and name), as JSON and as words.

Shared by the account code, which writes grants, and by everything that reads a
user back from a row (sessions, API keys), so none of them imports another.
"""

from __future__ import annotations

from hub.auth.rights import EVERY_PRINTER, Grants

# The grants of the user ``u`` in the same query: "kind:name" lines.
GRANTS_COLUMN = (
    "(SELECT group_concat(g.kind || ':' || g.name, char(10)) FROM grants g"
    " WHERE g.user_id = u.id) AS grant_lines"
)


def grants_from_rows(rows: list[tuple[str, str]]) -> Grants:
    printers = {EVERY_PRINTER if kind == "all" else name for kind, name in rows if kind != "group"}
    groups = {name for kind, name in rows if kind == "group"}
    return Grants(printers=frozenset(printers), groups=frozenset(groups))


def grants_from_lines(lines: str | None) -> Grants:
    """Grants from :data:`GRANTS_COLUMN`'s "kind:name" lines."""
    pairs = [line.split(":", 1) for line in lines.split("\n")] if lines else []
    return grants_from_rows([(p[0], p[1]) for p in pairs if len(p) == 2])


def grant_rows(grants: Grants) -> list[tuple[str, str]]:
    """The (kind, name) rows that store ``grants``."""
    rows = [("all" if p == EVERY_PRINTER else "printer", "" if p == EVERY_PRINTER else p)
            for p in grants.printers]  # fmt: skip
    return rows + [("group", g) for g in grants.groups]


def grants_json(grants: Grants) -> dict[str, list[str]]:
    return {"printers": sorted(grants.printers), "groups": sorted(grants.groups)}


def describe_grants(grants: Grants) -> str:
    parts = [("every printer" if p == EVERY_PRINTER else f"printer {p}")
             for p in sorted(grants.printers)]  # fmt: skip
    parts += [f"group {g}" for g in sorted(grants.groups)]
    return ", ".join(parts) or "none"
