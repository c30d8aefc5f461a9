"""The hub's API as an OpenAPI 3.1 description, written by hand, served to logged-in users at
``/api/openapi.json`` (the fuzz test runs against it). Responses are described loosely: the
contract a client relies on is in docs/hub.md."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.auth.current import current_user

Schema = dict[str, Any]

_OBJECT: Schema = {"type": "object"}
_ERROR: Schema = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
_STRINGS: Schema = {"type": "array", "items": {"type": "string"}}
_GRANTS: Schema = {
    "type": "object",
    "properties": {"printers": _STRINGS, "groups": _STRINGS, "every_printer": {"type": "boolean"}},
}
_ROLE: Schema = {"type": "string", "enum": ["admin", "operator", "viewer"]}


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def _answers(*codes: str) -> Schema:
    answers: Schema = {"200": {"description": "done", **_json(_OBJECT)}}
    for code in codes:
        answers[code] = {"description": "refused", **_json(_ERROR)}
    return answers


def _body(schema: Schema) -> Schema:
    return {"required": True, **_json(schema)}


def _path(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, schema: Schema) -> Schema:
    return {"name": name, "in": "query", "schema": schema}


_ID = _path("id", {"type": "integer"})
_PRINTER = _path("name", {"type": "string", "minLength": 1})
_OVERRIDE: Schema = {
    "type": "object",
    "required": ["item"],
    "properties": {
        "item": {"type": "string", "enum": ["profile", "power", "spool", "maintenance", "heat"]}
    },
}
_USER = _path("name", {"type": "string", "minLength": 1})
_FILTERS = [
    _query("printer", {"type": "string"}),
    _query("user", {"type": "string"}),
    _query("since", {"type": "string"}),
    _query("until", {"type": "string"}),
    _query("limit", {"type": "integer"}),
    _query("offset", {"type": "integer"}),
]
_HISTORY = [*_FILTERS, _query("outcome", {"type": "string"})]
_AUDIT = [*_FILTERS, _query("action", {"type": "string"})]
_POWER: Schema = {
    "type": "object",
    "properties": {"on": {"type": "boolean"}},
    "required": ["on"],
}
_CSV = {"200": {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}}}

PATHS: Schema = {
    "/api/health": {"get": {"summary": "health (open)", "responses": _answers()}},
    "/api/openapi.json": {
        "get": {"summary": "this description (OpenAPI 3.1)", "responses": _answers("401")}
    },
    "/api/login": {
        "post": {
            "summary": "log in; sets the session and CSRF cookies",
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                    "required": ["username", "password"],
                }
            ),
            "responses": _answers("400", "401", "415", "429", "507"),
        }
    },
    "/api/logout": {"post": {"summary": "log out", "responses": _answers("401")}},
    "/api/me": {"get": {"summary": "who is logged in", "responses": _answers("401")}},
    "/api/me/password": {
        "post": {
            "summary": "change one's own password",
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
                }
            ),
            "responses": _answers("400", "401", "403"),
        }
    },
    "/api/users": {
        "get": {"summary": "users (admin)", "responses": _answers("401", "403")},
        "post": {
            "summary": "add a user (admin)",
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "password": {"type": "string"},
                        "role": _ROLE,
                        "grants": _GRANTS,
                    },
                    "required": ["name", "password", "role"],
                }
            ),
            "responses": _answers("400", "401", "403", "409"),
        },
    },
    "/api/users/{name}": {
        "parameters": [_USER],
        "patch": {
            "summary": "change a user's role, grants, password or disabled flag (admin)",
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {
                        "role": _ROLE,
                        "grants": _GRANTS,
                        "password": {"type": "string"},
                        "disabled": {"type": "boolean"},
                    },
                }
            ),
            "responses": _answers("400", "401", "403", "404", "409"),
        },
        "delete": {
            "summary": "remove a user (admin)",
            "responses": _answers("401", "403", "404", "409"),
        },
    },
    "/api/keys": {
        "get": {
            "summary": "API keys",
            "parameters": [_query("all", {"type": "string"})],
            "responses": _answers("401", "403"),
        },
        "post": {
            "summary": "a new API key (shown once)",
            "requestBody": _body(
                {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
            ),
            "responses": _answers("400", "401", "409"),
        },
    },
    "/api/keys/{id}": {
        "parameters": [_ID],
        "delete": {"summary": "revoke an API key", "responses": _answers("401", "403", "404")},
    },
    "/api/printers/{name}/app-keys": {
        "parameters": [_PRINTER],
        "post": {
            "summary": "a print server relays an app's key request (signed X-Fabfleet-Printer)",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["app"],
                    "properties": {"app": {"type": "string"}, "user": {"type": "string"}},
                }
            ),
            "responses": _answers("400", "403", "404", "413", "429"),
        },
    },
    "/api/printers/{name}/app-keys/{token}": {
        "parameters": [_PRINTER, _path("token", {"type": "string"})],
        "get": {
            "summary": "a print server relays an app's poll: 202 waiting, 200 the key once, 404",
            "responses": _answers("403", "404"),
        },
    },
    "/api/app-key-requests": {
        "get": {
            "summary": "apps' key requests this user may decide",
            "responses": _answers("401"),
        }
    },
    "/api/app-key-requests/{id}/approve": {
        "parameters": [_ID],
        "post": {
            "summary": "approve an app's key request (its key: that user, that printer only)",
            "responses": _answers("401", "403", "404", "409"),
        },
    },
    "/api/app-key-requests/{id}/deny": {
        "parameters": [_ID],
        "post": {"summary": "deny an app's key request", "responses": _answers("401", "404")},
    },
    "/api/audit": {
        "get": {
            "summary": "audit log (admin)",
            "parameters": _AUDIT,
            "responses": _answers("400", "401", "403"),
        }
    },
    "/api/audit.csv": {
        "get": {"summary": "audit log as CSV (admin)", "parameters": _AUDIT, "responses": _CSV}
    },
    "/api/fleet": {
        "get": {"summary": "the printers one may watch, live", "responses": _answers("401")}
    },
    "/api/fleet/actions": {
        "post": {
            "summary": "pause, resume, cancel, preheat or cool down several printers",
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {
                        "action": {
                            "type": "string",
                            "enum": ["pause", "resume", "cancel", "preheat", "cooldown"],
                        },
                        "printers": {"type": "array", "items": {"type": "string"}},
                        "hotend": {"type": "integer"},
                        "bed": {"type": "integer"},
                    },
                    "required": ["action", "printers"],
                }
            ),
            "responses": _answers("400", "401", "403"),
        }
    },
    "/api/printers/{name}/bed-clear": {
        "parameters": [_path("name", {"type": "string", "minLength": 1})],
        "post": {
            "summary": "confirm a printer's bed is clear",
            "responses": _answers("401", "403", "404", "409", "502"),
        },
    },
    "/api/queue": {
        "get": {"summary": "the fleet queue", "responses": _answers("401")},
        "post": {
            "summary": "queue a file (or copies) for the fleet, a group or a printer",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "file": {
                                    "type": "string",
                                    "contentMediaType": "application/octet-stream",
                                },
                                "copies": {"type": "integer"},
                                "target": {"type": "string"},
                                "priority": {"type": "integer"},
                                "tags": {"type": "string"},
                            },
                            "required": ["file"],
                        }
                    }
                },
            },
            "responses": _answers("400", "401", "403", "404", "413", "415", "422", "507"),
        },
    },
    "/api/queue/printers": {
        "get": {"summary": "why each printer takes no work", "responses": _answers("401")}
    },
    "/api/queue/{id}": {
        "parameters": [_ID],
        "patch": {
            "summary": "change an entry's priority or position",
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {
                        "priority": {"type": "integer"},
                        "position": {"type": "string", "enum": ["up", "down", "top"]},
                    },
                }
            ),
            "responses": _answers("400", "401", "403", "404", "409"),
        },
        "delete": {"summary": "cancel an entry", "responses": _answers("401", "403", "404", "409")},
    },
    "/api/queue/{id}/requeue": {
        "parameters": [_ID],
        "post": {
            "summary": "queue a failed or interrupted entry again",
            "responses": _answers("401", "403", "404", "409"),
        },
    },
    "/api/queue/{id}/override": {
        "parameters": [_ID],
        "post": {
            "summary": "an admin lets one dispatch-check item pass for this entry (audited)",
            "requestBody": _body(_OVERRIDE),
            "responses": _answers("400", "401", "403", "404", "409"),
        },
    },
    "/api/queue/{id}/check": {
        "parameters": [_ID],
        "get": {
            "summary": "the dispatch check's items for a queued entry on each printer",
            "responses": _answers("401", "404"),
        },
    },
    "/api/printers/{name}/dispatch-check": {
        "parameters": [_PRINTER],
        "post": {
            "summary": "a print server asks before it starts a file (signed X-Fabfleet-Printer)",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string"},
                        "filament_mm": {"type": ["number", "null"], "minimum": 0},
                        "material": {"type": ["string", "null"], "maxLength": 255},
                        "nozzle": {"type": ["number", "null"], "minimum": 0},
                        "user": {"type": ["string", "null"], "maxLength": 255},
                    },
                }
            ),
            "responses": _answers("400", "403", "404", "413"),
        },
    },
    "/api/printers/{name}/dispatch-override": {
        "parameters": [_PRINTER],
        "post": {
            "summary": "an admin lets one item pass for the next start of a file (audited)",
            "requestBody": _body(
                {
                    **_OVERRIDE,
                    "required": ["item", "file"],
                    "properties": {**_OVERRIDE["properties"], "file": {"type": "string"}},
                }
            ),
            "responses": {
                "201": {"description": "granted", **_json(_OBJECT)},
                **{
                    c: {"description": "refused", **_json(_ERROR)}
                    for c in ("400", "401", "403", "404", "409")
                },
            },
        },
    },
    "/api/history": {
        "get": {
            "summary": "every printer's jobs",
            "parameters": _HISTORY,
            "responses": _answers("400", "401"),
        }
    },
    "/api/history.csv": {
        "get": {"summary": "the same as CSV", "parameters": _HISTORY, "responses": _CSV}
    },
    "/api/stats": {
        "get": {
            "summary": "success rate, hours, filament per printer and user",
            "parameters": [
                _query("since", {"type": "string"}),
                _query("until", {"type": "string"}),
            ],
            "responses": _answers("400", "401"),
        }
    },
    "/api/spools": {
        "get": {
            "summary": "Spoolman's spools, for a picker (enabled: false without Spoolman)",
            "responses": _answers("401", "502"),
        }
    },
    "/api/spools/loaded": {
        "get": {
            "summary": "the spools loaded in every printer one may watch",
            "responses": _answers("401"),
        }
    },
    "/api/spools/reports": {
        "get": {
            "summary": "filament use reported (or owed) to Spoolman, newest first",
            "parameters": [_query("printer", {"type": "string"})],
            "responses": _answers("401", "404"),
        }
    },
    "/api/printers/{name}/spools": {
        "parameters": [_path("name", {"type": "string", "minLength": 1})],
        "get": {
            "summary": "the spools loaded in one printer",
            "responses": _answers("401", "404"),
        },
    },
    "/api/printers/{name}/spools/{tool}": {
        "parameters": [
            _path("name", {"type": "string", "minLength": 1}),
            _path("tool", {"type": "integer", "minimum": 0, "maximum": 15}),
        ],
        "put": {
            "summary": "load a spool into a tool (spool_id null: unload); audited",
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {"spool_id": {"type": ["integer", "null"], "minimum": 1}},
                    "required": ["spool_id"],
                }
            ),
            "responses": _answers("400", "401", "403", "404", "409", "415", "502"),
        },
    },
    "/api/notifications": {
        "get": {"summary": "notification targets (admin)", "responses": _answers("401", "403")},
        "post": {
            "summary": "add a webhook or ntfy target (admin)",
            "requestBody": _body(
                {
                    "type": "object",
                    "properties": {
                        "kind": {"type": "string", "enum": ["webhook", "ntfy"]},
                        "url": {"type": "string"},
                        "name": {"type": "string"},
                        "events": {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "enum": ["finished", "failed", "bed_clear_needed"],
                            },
                        },
                    },
                    "required": ["kind", "url"],
                }
            ),
            "responses": _answers("400", "401", "403"),
        },
    },
    "/api/notifications/{id}": {
        "parameters": [_ID],
        "delete": {
            "summary": "remove a target (admin)",
            "responses": _answers("401", "403", "404"),
        },
    },
    "/api/maintenance": {
        "get": {
            "summary": "every printer the user may view: its counters and service tasks"
            " (docs/maintenance.md)",
            "responses": _answers("401"),
        }
    },
    "/api/printers/{name}/maintenance/{task}/done": {
        "parameters": [
            _path("name", {"type": "string", "minLength": 1}),
            _path("task", {"type": "string", "minLength": 1}),
        ],
        "post": {
            "summary": "mark a service task done now (may act; audited)",
            "requestBody": {
                "required": False,
                **_json({"type": "object", "properties": {"note": {"type": "string"}}}),
            },
            "responses": _answers("400", "401", "403", "404", "413", "415", "503"),
        },
    },
    "/api/printers/{name}/maintenance/log": {
        "parameters": [_path("name", {"type": "string", "minLength": 1})],
        "get": {
            "summary": "the printer's service log, newest first",
            "responses": _answers("401", "404"),
        },
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics: counters and service tasks (docs/maintenance.md)",
            "responses": {
                "200": {
                    "description": "text format 0.0.4",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": {"description": "refused", **_json(_ERROR)},
            },
        }
    },
    "/api/notifications/{id}/test": {
        "parameters": [_ID],
        "post": {
            "summary": "send a test notification (admin)",
            "responses": _answers("401", "403", "404"),
        },
    },
    "/api/power": {
        "get": {
            "summary": "power devices of the printers and cameras one may see: state, the "
            "off-guard's sentence (docs/power.md)",
            "responses": _answers("401"),
        }
    },
    "/api/printers/{name}/power": {
        "parameters": [_USER],
        "post": {
            "summary": "switch a printer's power on or off (may act on it; off refused with "
            "409 while printing, heating, hot or the device state is unknown)",
            "requestBody": _body(_POWER),
            "responses": _answers("400", "401", "403", "404", "409", "415", "502"),
        },
    },
    "/api/cameras/{name}/power": {
        "parameters": [_USER],
        "post": {
            "summary": "switch a camera's power on or off (admin, or may act on a printer it "
            "shows)",
            "requestBody": _body(_POWER),
            "responses": _answers("400", "401", "403", "404", "415", "502"),
        },
    },
}


def document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {"title": "fabfleet hub", "version": "1"},
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "fabfleet_session"},
            }
        },
        "security": [{"apiKey": []}],
        "paths": PATHS,
    }


async def openapi(request: web.Request) -> web.Response:
    current_user(request)
    return web.json_response(document())


def setup(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi)
