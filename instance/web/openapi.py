"""The native API's OpenAPI 3.1 description, written by hand, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from instance.web import links
from instance.web.context import context

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def _error(description: str) -> Schema:
    return {"description": description, **_json(_ref("Error"))}


def _ok(description: str, schema: Schema, status: str = "200") -> dict[str, Schema]:
    return {status: {"description": description, **_json(schema)}}


def _body(schema: Schema, required: bool = True) -> Schema:
    return {"required": required, **_json(schema)}


_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
    "description": "the stored file's name",
}
_JOB_ID = {"name": "job", "in": "path", "required": True, "schema": {"type": "integer"}}
_NUMBER = {"type": "number"}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_NULLABLE_STRING = {"type": ["string", "null"]}
_STATES = [
    "offline", "connecting", "ready", "printing", "pausing", "paused",
    "cancelling", "finished", "failed", "bed not cleared",
]  # fmt: skip
_AUTH = {
    "401": _error("no API key was sent"),
    "403": _error("the API key is wrong"),
}
_HISTORY_FILTERS = [
    {"name": "outcome", "in": "query", "schema": {
        "type": "string", "enum": ["completed", "cancelled", "failed", "interrupted"]}},
    {"name": "file", "in": "query", "schema": {"type": "string"},
     "description": "part of the file name"},
    {"name": "since", "in": "query", "schema": {"type": "string"},
     "description": "ISO date or Unix time: jobs started at or after"},
    {"name": "until", "in": "query", "schema": {"type": "string"},
     "description": "ISO date or Unix time: jobs started before"},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                "maximum": 10000}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
]  # fmt: skip

_SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "Heater": {
        "type": "object",
        "properties": {"actual": _NULLABLE_NUMBER, "target": _NULLABLE_NUMBER},
    },
    "Job": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "file": {"type": "string"},
            "progress": _NUMBER,
            "bytes_done": {"type": "integer"},
            "bytes_total": {"type": "integer"},
            "layer": {"type": ["integer", "null"], "minimum": 1},
            "layer_count": {"type": ["integer", "null"], "minimum": 0},
            "z": {"type": ["number", "null"]},
            "lines_done": {"type": "integer"},
            "lines_total": {"type": "integer"},
            "elapsed": _NUMBER,
            "remaining": _NULLABLE_NUMBER,
        },
    },
    "JobRecord": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "file": {"type": "string"},
            "file_size": {"type": "integer"},
            "started_by": _NULLABLE_STRING,
            "started_at": _NUMBER,
            "ended_at": _NULLABLE_NUMBER,
            "duration": _NULLABLE_NUMBER,
            "outcome": _NULLABLE_STRING,
            "reason": _NULLABLE_STRING,
            "filament_mm": _NULLABLE_NUMBER,
            "last_line": {"type": ["integer", "null"]},
            "resumed_from": {"type": ["integer", "null"]},
            "timelapse": {
                "type": ["object", "null"],
                "description": "the job's timelapse (docs/timelapse.md): state (capturing,"
                " assembling, ready, no video, deleted), mode, frames, missed, notes, video"
                " (file, size, frames, fps, duration_s) once ready",
            },
            "warnings": {
                "type": "array",
                "description": "only in GET /api/v1/history/{id}: lines the firmware's own"
                " drain cut and ran or refused, a stalled link",
                "items": {"type": "object"},
            },
        },
    },
    "Counters": {
        "type": "object",
        "description": "the printer's lifetime counters as this print server saw them"
        " (docs/maintenance.md)",
        "required": [
            "printer",
            "print_seconds",
            "filament_mm",
            "move_mm",
            "jobs",
            "heater_on_seconds",
            "since",
            "problem",
        ],
        "properties": {
            "printer": {"type": "string"},
            "print_seconds": {**_NUMBER, "description": "printing time, pauses excluded"},
            "filament_mm": {**_NUMBER, "description": "filament printed"},
            "move_mm": {**_NUMBER, "description": "X/Y/Z travel of the jobs' moves"},
            "jobs": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "jobs by outcome",
            },
            "heater_on_seconds": {
                "type": "object",
                "additionalProperties": _NUMBER,
                "description": "time with a target above 0, per heater",
            },
            "since": {**_NUMBER, "description": "Unix time the counting began"},
            "problem": {
                **_NULLABLE_STRING,
                "description": "why counting started again from zero at this start",
            },
        },
    },
    "Printer": {
        "type": "object",
        "required": ["name", "state", "connected", "bed_clear", "heaters"],
        "properties": {
            "name": {"type": "string"},
            "state": {"type": "string", "enum": _STATES},
            "connected": {"type": "boolean"},
            "error": _NULLABLE_STRING,
            "notice": _NULLABLE_STRING,
            "bed_clear": {"type": "boolean"},
            "firmware": {"type": ["object", "null"]},
            "heaters": {"type": "object", "additionalProperties": _ref("Heater")},
            "job": {"oneOf": [_ref("Job"), {"type": "null"}]},
            "prompt": {"type": ["object", "null"]},
            "last_job": {"oneOf": [_ref("JobRecord"), {"type": "null"}]},
            "selected_file": _NULLABLE_STRING,
            "camera_url": _NULLABLE_STRING,
            "timelapse": {
                "type": ["object", "null"],
                "description": "null without a camera snapshot URL; else default (whether a job"
                " that does not choose gets a timelapse) and mode (docs/timelapse.md)",
            },
            "presets": {
                "type": "array",
                "description": "temperature presets: the printer's materials, else the whole"
                " built-in table",
                "items": {
                    "type": "object",
                    "required": ["name", "hotend", "bed"],
                    "properties": {
                        "name": {"type": "string"},
                        "hotend": {"type": "integer"},
                        "bed": {"type": "integer"},
                    },
                },
            },
            "after_job": {
                "type": "object",
                "description": "heaters and fans once a job has ended: off or keep",
                "properties": {
                    "heaters": {"type": "string", "enum": ["off", "keep"]},
                    "fans": {"type": "string", "enum": ["off", "keep"]},
                },
            },
            "overrides": {
                "type": "object",
                "properties": {
                    "feed_percent": {"type": "integer"},
                    "flow_percent": {"type": "integer"},
                    "babystep_z_mm": _NUMBER,
                },
            },
        },
    },
    "Analysis": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["pending", "done", "failed", "unavailable"]},
            "result": {"type": ["object", "null"]},
            "error": _NULLABLE_STRING,
            "analysed_at": _NULLABLE_NUMBER,
        },
    },
    "File": {
        "type": "object",
        "required": ["name", "size", "modified", "printing", "analysis", "links"],
        "properties": {
            "name": {"type": "string"},
            "size": {"type": "integer"},
            "modified": _NUMBER,
            "printing": {"type": "boolean"},
            "analysis": _ref("Analysis"),
            "links": {"type": "object"},
        },
    },
    "Me": {
        "type": "object",
        "required": ["user", "may_act"],
        "properties": {
            "user": {"type": "string"},
            "may_act": {"type": "boolean"},
        },
    },
    "Series": {
        "type": "object",
        "properties": {
            "times": {"type": "array", "items": _NUMBER},
            "series": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": _NULLABLE_NUMBER},
            },
        },
    },
}


def _paths() -> dict[str, Schema]:
    upload_form = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "print": {"type": "string", "enum": ["true", "false"]},
            "select": {"type": "string", "enum": ["true", "false"]},
            "overwrite": {"type": "string", "enum": ["true", "false"]},
            "timelapse": {
                "type": "string",
                "enum": ["on", "off"],
                "description": "the job's timelapse (unset: the printer's default)",
            },
        },
    }
    state_reply = _ok("the printer's state now", {"type": "object"}, "202")
    refused = {"409": _error("the printer cannot do that now (busy, not ready, bed not clear)")}
    bad = {"400": _error("malformed JSON or a field of the wrong type or range")}
    control_body = {
        "type": "object",
        "properties": {
            "axes": {"type": "string"},
            "x": _NUMBER, "y": _NUMBER, "z": _NUMBER, "feed": _NUMBER,
            "length": _NUMBER, "percent": _NUMBER, "hotend": _NUMBER, "bed": _NUMBER,
        },
    }  # fmt: skip
    return {
        "/api/health": {"get": {
            "summary": "the server is up and knows the printer's state (no key needed)",
            "security": [],
            "responses": {**_ok("healthy", {"type": "object"}),
                          "503": _error("the printer service stopped")},
        }},
        "/api/v1": {"get": {
            "summary": "the API's root: a redirect to this description",
            "responses": {"302": {"description": "to /api/v1/openapi.json"}, **_AUTH},
        }},
        "/api/v1/": {"get": {
            "summary": "the API's root: a redirect to this description",
            "responses": {"302": {"description": "to /api/v1/openapi.json"}, **_AUTH},
        }},
        "/api/v1/openapi.json": {"get": {
            "summary": "this description (OpenAPI 3.1)",
            "responses": {**_ok("the description", {"type": "object"}), **_AUTH},
        }},
        "/metrics": {"get": {
            "summary": "Prometheus metrics (docs/web-api.md); OpenMetrics if Accept asks for it",
            "responses": {"200": {"description": "the exposition", "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/openmetrics-text": {"schema": {"type": "string"}}}}, **_AUTH},
        }},
        "/api/v1/printer": {"get": {
            "summary": "the printer: state, heaters, job, prompt, last job",
            "responses": {**_ok("the printer", _ref("Printer")), **_AUTH},
        }},
        "/api/v1/me": {"get": {
            "summary": "who is asking, and whether they may act on this printer or only watch",
            "responses": {**_ok("the requester", _ref("Me")), **_AUTH},
        }},
        "/api/v1/temperatures": {"get": {
            "summary": "1 Hz temperature history since a time (default: the last hour)",
            "parameters": [{"name": "since", "in": "query", "schema": _NUMBER}],
            "responses": {**_ok("the series", _ref("Series")), **bad, **_AUTH},
        }},
        "/api/v1/job": {
            "get": {"summary": "the running job, if any",
                    "responses": {**_ok("the job", {"type": "object"}), **_AUTH}},
            "post": {
                "summary": "print a stored file (the printer must be ready with a clear bed)",
                "requestBody": _body({"type": "object", "required": ["file"], "properties": {
                    "file": {"type": "string"},
                    "timelapse": {"type": ["boolean", "string"], "enum": [True, False, "on", "off"],
                                  "description": "unset: the printer's default"}}}),
                "responses": {**_ok("started", {"type": "object"}, "201"), **bad,
                              "404": _error("no such file"), **refused,
                              "507": _error("the disk is full: the job could not be recorded"),
                              **_AUTH},
            },
        },
        "/api/v1/job/{action}": {"post": {
            "summary": "pause, resume or cancel the job",
            "parameters": [{"name": "action", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": ["pause", "resume", "cancel"]}}],
            "responses": {**state_reply, "404": _error("no such action"), **refused, **_AUTH},
        }},
        "/api/v1/bed/clear": {"post": {
            "summary": "confirm the bed is clear: the printer becomes ready",
            "responses": {**_ok("confirmed", {"type": "object"}), **refused, **_AUTH},
        }},
        "/api/v1/prompt": {"post": {
            "summary": "answer the firmware's prompt (M876)",
            "requestBody": _body({"type": "object", "required": ["choice"],
                                  "properties": {"choice": {"type": "integer", "minimum": 0}}}),
            "responses": {**_ok("answered", {"type": "object"}), **bad, **refused, **_AUTH},
        }},
        "/api/v1/terminal": {
            "get": {"summary": "the newest terminal lines",
                    "parameters": [{"name": "limit", "in": "query",
                                    "schema": {"type": "integer", "minimum": 1,
                                               "maximum": 1000}}],
                    "responses": {**_ok("lines", {"type": "object"}), **bad, **_AUTH}},
            "post": {"summary": "send one G-code command",
                     "requestBody": _body({"type": "object", "required": ["command"],
                                           "properties": {"command": {"type": "string"}}}),
                     "responses": {**_ok("queued", {"type": "object"}, "202"), **bad,
                                   **refused, **_AUTH}},
        },
        "/api/v1/control/{action}": {"post": {
            "summary": "manual control: home, jog, extrude, fan, temperature, cool-down, "
                       "motors-off, emergency-stop",
            "parameters": [{"name": "action", "in": "path", "required": True, "schema": {
                "type": "string", "enum": ["home", "jog", "extrude", "fan", "temperature",
                                           "cool-down", "motors-off", "emergency-stop"]}}],
            "requestBody": _body(control_body, required=False),
            "responses": {**_ok("queued", {"type": "object"}, "202"), **bad,
                          "404": _error("no such action"), **refused, **_AUTH},
        }},
        "/api/v1/printer/overrides": {"post": {
            "summary": "feed-rate (M220) and flow (M221) in percent, also while printing",
            "requestBody": _body({"type": "object", "properties": {
                "feed_percent": {"type": "integer", "minimum": 10, "maximum": 500},
                "flow_percent": {"type": "integer", "minimum": 10, "maximum": 200}}}),
            "responses": {**_ok("sent; the overrides now", {"type": "object"}, "202"), **bad,
                          **refused, **_AUTH},
        }},
        "/api/v1/printer/babystep": {"post": {
            "summary": "move Z by a babystep (M290), also while printing",
            "requestBody": _body({"type": "object", "required": ["z_mm"], "properties": {
                "z_mm": {"type": "number", "minimum": -0.5, "maximum": 0.5}}}),
            "responses": {**_ok("sent; the overrides now", {"type": "object"}, "202"), **bad,
                          **refused, **_AUTH},
        }},
        "/api/v1/files": {
            "get": {"summary": "stored files with their analyses, and free disk space",
                    "responses": {**_ok("the files", {"type": "object"}), **_AUTH}},
            "post": {
                "summary": "upload a G-code file (streamed); print=true starts it",
                "requestBody": {"required": True,
                                "content": {"multipart/form-data": {"schema": upload_form}}},
                "responses": {
                    **_ok("stored", {"type": "object"}, "201"),
                    "400": _error("no file part, or a bad file name"),
                    "409": _error("stored, but the printer cannot print it now"),
                    "413": _error("larger than the upload limit"),
                    "415": _error("not G-code text"),
                    "507": _error("not enough disk space"),
                    **_AUTH,
                },
            },
        },
        "/api/v1/files/{name}": {
            "parameters": [_NAME],
            "get": {"summary": "one file",
                    "responses": {**_ok("the file", _ref("File")),
                                  "404": _error("no such file"), **_AUTH}},
            "delete": {"summary": "delete a file (not while it is printed)",
                       "responses": {"204": {"description": "deleted"},
                                     "404": _error("no such file"),
                                     "409": _error("being printed"), **_AUTH}},
        },
        "/api/v1/files/{name}/analysis": {"get": {
            "parameters": [_NAME],
            "summary": "the file's G-code analysis",
            "responses": {**_ok("the analysis", _ref("Analysis")),
                          "404": _error("no such file"), **_AUTH},
        }},
        "/api/v1/files/{name}/content": {"get": {
            "parameters": [_NAME],
            "summary": "download the file",
            "responses": {"200": {"description": "the G-code",
                                  "content": {"text/x-gcode": {"schema": {"type": "string"}}}},
                          "404": _error("no such file"), **_AUTH},
        }},
        "/api/v1/files/{name}/thumbnails/{index}": {"get": {
            "parameters": [_NAME, {"name": "index", "in": "path", "required": True,
                                   "schema": {"type": "integer", "minimum": 0}}],
            "summary": "a preview image the slicer embedded (analysis.result.thumbnails)",
            "responses": {"200": {"description": "PNG or JPEG", "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
                "404": _error("no such file or thumbnail"), **_AUTH},
        }},
        "/api/v1/files/{name}/toolpath": {"get": {
            "parameters": [_NAME],
            "summary": "the file's layer-by-layer toolpath preview (docs/printer-page.md)",
            "responses": {"200": {"description": "the packed preview", "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "304": {"description": "not modified since the ETag sent"},
                "404": _error("no such file"),
                "422": _error("the file cannot be previewed"), **_AUTH},
        }},
        "/api/v1/history": {"get": {
            "summary": "recorded jobs, newest first",
            "parameters": _HISTORY_FILTERS,
            "responses": {**_ok("jobs", {"type": "object", "properties": {
                "jobs": {"type": "array", "items": _ref("JobRecord")}}}), **bad, **_AUTH},
        }},
        "/api/v1/counters": {"get": {
            "summary": "the printer's lifetime counters (docs/maintenance.md)",
            "responses": {**_ok("the counters", _ref("Counters")), **_AUTH},
        }},
        "/api/v1/history.csv": {"get": {
            "summary": "recorded jobs as CSV",
            "parameters": _HISTORY_FILTERS,
            "responses": {"200": {"description": "CSV",
                                  "content": {"text/csv": {"schema": {"type": "string"}}}},
                          **bad, **_AUTH},
        }},
        "/api/v1/history/{job}": {"get": {
            "parameters": [_JOB_ID],
            "summary": "one recorded job",
            "responses": {**_ok("the job", _ref("JobRecord")),
                          "404": _error("no such job"), **_AUTH},
        }},
        "/api/v1/history/{job}/temperatures": {"get": {
            "parameters": [_JOB_ID],
            "summary": "the job's temperature series",
            "responses": {**_ok("the series", _ref("Series")),
                          "404": _error("no such job"), **_AUTH},
        }},
        "/api/v1/history/{job}/timelapse.mp4": {"get": {
            "parameters": [_JOB_ID],
            "summary": "the job's timelapse video (range requests answered)",
            "responses": {"200": {"description": "the MP4", "content": {
                "video/mp4": {"schema": {"type": "string", "format": "binary"}}}},
                "206": {"description": "the range asked for"},
                "404": _error("no such job, no timelapse, or its video is not there (why)"),
                **_AUTH},
        }},
    }  # fmt: skip


def description(server_url: str) -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fabfleet print server",
            "version": "1",
            "description": "One printer's native API. The live stream is a WebSocket at "
            "/api/v1/events; OctoPrint-compatible endpoints live under /api, and OctoPrint's"
            " application keys workflow under /plugin/appkeys (see docs/web-api.md).",
        },
        "servers": [{"url": server_url}],
        "security": [{"apiKey": []}, {"bearer": []}, {"apiKeyQuery": []}],
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "apikey"},
            },
            "schemas": _SCHEMAS,
        },
        "paths": _paths(),
    }


async def openapi(request: web.Request) -> web.Response:
    ctx = context(request)
    return web.json_response(description(links.absolute(request, ctx.config.base_path, "")))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/openapi.json", openapi)
