"""The OpenAPI 3 description of the REST API, served at /openapi.json (a table of data)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.web.api.bodies import GOALS, MAX_PATH, MAX_REASON, MAX_SELECTED, SAFETY_LEVELS

routes = web.RouteTableDef()

_NULLABLE_STRING = {"type": "string", "nullable": True}
_NULLABLE_NUMBER = {"type": "number", "nullable": True}
_UUID = {"type": "string", "format": "uuid"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str,
          headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description,
                              "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _errors(*codes: int) -> dict[str, Any]:
    texts = {400: "Bad input; `field` names it", 401: "No or wrong bearer token (or, for "
             "apply, no approval token)", 403: "Path outside the allowed roots, or a bad, "
             "expired or foreign approval token", 404: "Unknown id", 409: "The state forbids "
             "it (not approved, not applied, already rolled back, branch moved)",
             422: "Not an existing folder, or not a git repository",
             503: "Approvals are not configured on the server"}
    return {str(code): _json(_ref("Error"), texts[code]) for code in codes}


_SUGGESTION = {
    "type": "object",
    "required": ["id", "modification_type", "original_code", "modified_code", "reasoning",
                 "safety_score", "status"],
    "properties": {
        "id": _UUID, "session_id": _NULLABLE_STRING,
        "modification_type": _NULLABLE_STRING, "title": _NULLABLE_STRING,
        "rule_id": _NULLABLE_STRING, "file_path": {"type": "string"},
        "files": {"type": "array", "items": {"type": "string"}},
        "original_code": _NULLABLE_STRING, "modified_code": _NULLABLE_STRING,
        "reasoning": _NULLABLE_STRING, "diff": _NULLABLE_STRING,
        "safety_score": _NULLABLE_NUMBER, "performance_impact": _NULLABLE_NUMBER,
        "status": {"type": "string"}, "rejection_reasons": {"type": "array"},
        "evidence": {"type": "object", "nullable": True},
        "metrics": {"type": "array", "items": {"type": "object"}},
        "branch": _NULLABLE_STRING, "commit": _NULLABLE_STRING,
        "previous_commit": _NULLABLE_STRING,
        "applied": {"type": "object", "nullable": True}, "applied_at": _NULLABLE_STRING,
        "rollback": {"type": "object", "nullable": True}, "rollback_at": _NULLABLE_STRING,
        "rollback_reason": _NULLABLE_STRING,
        "sandbox_executions": {"type": "array", "items": {"type": "object"}},
        "log": {"type": "array", "items": {"type": "object"}},
    },
}

_SESSION = {
    "type": "object",
    "required": ["analysis_id", "status", "suggestions", "finished"],
    "properties": {
        "analysis_id": _UUID, "codebase_path": {"type": "string"},
        "modification_goals": {"type": "array", "items": {"type": "string"}},
        "safety_level": {"type": "string", "enum": list(SAFETY_LEVELS)},
        "status": {"type": "string"}, "commit": _NULLABLE_STRING,
        "started_at": _NULLABLE_STRING, "completed_at": _NULLABLE_STRING,
        "success_rate": _NULLABLE_NUMBER, "error": _NULLABLE_STRING,
        "finished": {"type": "boolean"},
        "suggestions": {"type": "array", "items": _ref("Suggestion")},
        "modifications": {"type": "array", "items": _ref("Suggestion")},
        "sandbox_executions": {"type": "array", "items": {"type": "object"}},
        "log": {"type": "array", "items": {"type": "object"}},
    },
}


def build_openapi() -> dict[str, Any]:
    """Return the OpenAPI 3.0 document of the REST API."""
    poll = {"Location": {"description": "Where to poll the analysis",
                         "schema": {"type": "string"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "selfmod REST API", "version": "1.0.0",
                 "description": "Analyse a git repository on the server's disk, apply "
                 "approved suggestions with an approval token, roll them back."},
        "security": [{"bearer": []}],
        "paths": {
            "/self-modify/analyze": {"post": {
                "operationId": "analyze",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": _ref("AnalyzeRequest")}}},
                "responses": {"200": _json(_ref("Session"), "The finished analysis"),
                              "202": _json(_ref("Session"), "Still running; poll Location",
                                           poll),
                              **_errors(400, 401, 403, 422)}}},
            "/self-modify/apply": {"post": {
                "operationId": "apply",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": _ref("ApplyRequest")}}},
                "responses": {"200": _json(_ref("ApplyResponse"), "Applied"),
                              **_errors(400, 401, 403, 404, 409, 422, 503)}}},
            "/self-modify/rollback": {"post": {
                "operationId": "rollback",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": _ref("RollbackRequest")}}},
                "responses": {"200": _json(_ref("RollbackResponse"), "Rolled back"),
                              **_errors(400, 401, 403, 404, 409, 422)}}},
            "/self-modify/sessions/{id}": {"get": {
                "operationId": "getSession",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": _UUID}],
                "responses": {"200": _json(_ref("Session"), "The analysis session"),
                              **_errors(400, 401, 404)}}},
            "/self-modify/modifications/{id}": {"get": {
                "operationId": "getModification",
                "parameters": [{"name": "id", "in": "path", "required": True,
                                "schema": _UUID}],
                "responses": {"200": _json(_ref("Suggestion"), "The modification"),
                              **_errors(400, 401, 404)}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "AnalyzeRequest": {
                    "type": "object", "required": ["codebase_path"],
                    "properties": {
                        "codebase_path": {"type": "string", "minLength": 1,
                                          "maxLength": MAX_PATH},
                        "modification_goals": {"type": "array", "minItems": 1,
                                               "items": {"type": "string",
                                                         "enum": list(GOALS)}},
                        "safety_level": {"type": "string", "enum": list(SAFETY_LEVELS)}}},
                "ApplyRequest": {
                    "type": "object",
                    "required": ["analysis_id", "selected_modifications", "approval_token"],
                    "properties": {
                        "analysis_id": _UUID,
                        "selected_modifications": {"type": "array", "minItems": 1,
                                                   "maxItems": MAX_SELECTED, "items": _UUID},
                        "approval_token": {"type": "string",
                                           "description": "JWT: sub = analysis id, exp, "
                                           "approver"}}},
                "RollbackRequest": {
                    "type": "object", "required": ["modification_id", "rollback_reason"],
                    "properties": {"modification_id": _UUID,
                                   "rollback_reason": {"type": "string", "minLength": 1,
                                                       "maxLength": MAX_REASON}}},
                "ApplyResponse": {
                    "type": "object", "required": ["modification_id", "status"],
                    "properties": {
                        "modification_id": _UUID,
                        "status": {"type": "string", "enum": ["pending", "applied", "failed"]},
                        "branch": {"type": "string"}, "git_commit_hash": {"type": "string"},
                        "previous_commit": {"type": "string"},
                        "modifications": {"type": "array", "items": {"type": "object"}}}},
                "RollbackResponse": {
                    "type": "object", "required": ["status", "restored_version"],
                    "properties": {
                        "status": {"type": "string", "enum": ["success", "failed"]},
                        "restored_version": {"type": "string"},
                        "kind": {"type": "string", "enum": ["reset", "revert"]},
                        "modification_id": _UUID}},
                "Session": _SESSION,
                "Suggestion": _SUGGESTION,
                "Error": {"type": "object", "required": ["error"],
                          "properties": {"error": {"type": "string"},
                                         "field": {"type": "string"},
                                         "status": {"type": "string"},
                                         "modification_id": {"type": "string"}}},
            },
        },
    }


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """Serve the OpenAPI description (public: it holds no secret)."""
    return web.json_response(build_openapi())
