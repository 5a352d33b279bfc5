"""Describe the HTTP API in OpenAPI 3.0 and serve the part of it that the app actually routes.

The description lives here, in one place, rather than on each resource: `DOCUMENT` holds every
operation the service can have (some only with a setting, such as single sign-on), and
`served_document(app)` keeps the operations Falcon routes, found with `falcon.inspect`. So the
served document never promises a route that is not there, and a test checks the converse:
every routed operation is described here or named in `OUTSIDE_API` with its reason.
"""

from __future__ import annotations

import copy
import json
import re
from importlib import metadata

import falcon
import falcon.inspect

from core.states import JobState
from web.errors import PROBLEM_JSON
from web.openapi_schemas import (
    SCHEMAS,
    STRING,
    UPLOAD_FORM,
    nullable,
    schema_ref,
)
from web.resources.jobs import MAX_OFFSET, MAX_PAGE

# Routed paths that are not part of the API, each with its reason: browser pages and files.
OUTSIDE_API = {
    "/docs/static": "Swagger UI's own files, from the swagger-ui-bundle package",
    "/docs/swagger-initializer.js": "the script that starts Swagger UI on /docs",
    "/": "web UI page (HTML, cookie session): the job list",
    "/sign-in": "web UI page (HTML form): sign in with a password",
    "/sign-out": "web UI form post: end the browser session",
    "/convert": "web UI page (HTML): upload with options and progress",
    "/job/{job_id}": "web UI page (HTML): one job",
    "/account": "web UI page (HTML): the account",
    "/account/password": "web UI form post: change the password",
    "/users": "web UI page (HTML, admins): accounts",
    "/users/{user_id}/{action}": "web UI form post (admins): act on an account",
    "/assets/{name}": "web UI files: styles, scripts, icons",
    "/sample.mp4": "web UI: a generated sample video to try the service with",
    "/admin": "admin page (HTML, admins): the overview",
    "/admin/jobs": "admin page (HTML, admins): every user's jobs",
    "/admin/jobs/retry": "admin form post: retry every failed job that matches",
    "/admin/jobs/{job_id}": "admin page (HTML, admins): one job's timeline",
    "/admin/jobs/{job_id}/{action}": "admin form post: retry, cancel or delete a job",
    "/admin/workers": "admin page (HTML, admins): the workers",
    "/admin/queues/{queue}/{action}": "admin form post: requeue or purge dead letters",
    "/admin/queues/{queue}/dead/{message_id}/{action}": "admin form post: requeue or purge one",
    "/admin/tasks(/|$)": "dramatiq-dashboard (HTML, admins), mounted when the broker is Redis",
}

_CONVERTER = re.compile(r"\{(\w+):[^}]*\}")


def _json(schema: dict, description: str, **extra) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


# One reusable response per error status; every error body is RFC 9457 problem+json.
_ERRORS = {
    400: ("BadRequest", "Malformed request: the detail says what is wrong.", ()),
    401: ("Unauthorized", "Missing, invalid or expired credentials.", ("WWW-Authenticate",)),
    403: (
        "Forbidden",
        "Not allowed: a personal access token without the scope this needs, or a browser "
        "request without its CSRF token.",
        ("WWW-Authenticate",),
    ),
    404: ("NotFound", "No such resource, or it belongs to someone else.", ()),
    409: (
        "Conflict",
        "The resource is not in a state that allows this (tus: `Upload-Offset` is not the "
        "upload's; the right one is in the `Upload-Offset` header).",
        ("Upload-Offset",),
    ),
    410: ("Gone", "The resumable upload expired; start again.", ()),
    412: ("PreconditionFailed", "Not `Tus-Resumable: 1.0.0`.", ("Tus-Version",)),
    413: ("PayloadTooLarge", "The upload is larger than the limit (`limit` in the body).", ()),
    415: (
        "UnsupportedMediaType",
        "Not multipart/form-data (or application/offset+octet-stream for tus), or not media.",
        (),
    ),
    416: ("RangeNotSatisfiable", "The Range lies outside the file.", ("Content-Range",)),
    422: ("UnprocessableContent", "An invalid option; `field` names it.", ()),
    423: ("Locked", "Another request is writing to this resumable upload; retry.", ()),
    429: ("TooManyRequests", "Throttled login or storage quota used up.", ("Retry-After",)),
    460: ("ChecksumMismatch", "The bytes do not match `Upload-Checksum`; they were dropped.", ()),
    503: ("ServiceUnavailable", "A backing service is down; try again.", ("Retry-After",)),
}
_HEADERS = {
    "WWW-Authenticate": {"description": "How to authenticate", "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}},
    "Content-Range": {"description": "`bytes */SIZE`", "schema": {"type": "string"}},
    "Location": {"description": "Where the new resource is", "schema": {"type": "string"}},
    "Upload-Offset": {"description": "The upload's offset", "schema": {"type": "integer"}},
    "Tus-Version": {"description": "The tus versions served", "schema": {"type": "string"}},
}


def _error_response(description: str, headers: tuple[str, ...]) -> dict:
    response = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": schema_ref("Problem")}},
    }
    if headers:
        response["headers"] = {name: _HEADERS[name] for name in headers}
    return response


def _errors(*codes: int) -> dict:
    return {str(code): {"$ref": f"#/components/responses/{_ERRORS[code][0]}"} for code in codes}


def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: dict,
    *,
    public: bool = False,
    errors: tuple[int, ...] = (),
    **extra,
) -> dict:
    """Return one operation; a non-public one needs the bearer token (so can answer 401, 403)."""
    codes = errors if public else (401, 403, *errors)
    operation = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        **extra,
        "responses": {**responses, **_errors(*sorted(set(codes)))},
    }
    if public:
        operation.setdefault("security", [])
    return operation


def _path_param(name: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _query_param(name: str, description: str, schema: dict, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _header_param(name: str, description: str) -> dict:
    return {"name": name, "in": "header", "description": description, "schema": {"type": "string"}}


_JOB_ID = _path_param("job_id", "The job's id (32 hexadecimal digits, as `id` in a job).")
_JOB = _json(schema_ref("Job"), "The job.")
_TOKEN = _json(schema_ref("AccessToken"), "An access token for the API.")


_MP3_RESPONSES = {
    "200": {
        "description": "The MP3.",
        "headers": {
            "ETag": {"description": "The MP3's SHA-256", "schema": STRING},
            "Content-Disposition": {"description": "The upload's name, .mp3", "schema": STRING},
            "Accept-Ranges": {"schema": {"type": "string", "enum": ["bytes"]}},
        },
        "content": {"audio/mpeg": {"schema": {"type": "string", "format": "binary"}}},
    },
    "206": {
        "description": "The requested byte range of the MP3.",
        "headers": {"Content-Range": {"schema": STRING, "required": True}},
        "content": {"audio/mpeg": {"schema": {"type": "string", "format": "binary"}}},
    },
    "304": {"description": "The MP3 matches `If-None-Match`."},
}
_MP3_PARAMS = [
    _header_param("Range", "One byte range, `bytes=START-END`, `bytes=START-` or `bytes=-N`."),
    _header_param("If-None-Match", "An ETag from an earlier download: 304 if unchanged."),
    _header_param("If-Range", "An ETag: honour Range only if the MP3 still has it."),
]


def _mp3_operations(operation_id: str, summary: str, errors=(404, 416, 503), **extra) -> dict:
    get = _operation(operation_id, summary, "files", _MP3_RESPONSES, errors=errors, **extra)
    head = copy.deepcopy(get)
    head["operationId"] = f"{operation_id}Head"
    head["summary"] = f"{summary} (headers only)"
    return {"get": get, "head": head}


_TUS_RESUMABLE = {
    "name": "Tus-Resumable",
    "in": "header",
    "required": True,
    "description": "The tus protocol version; other values get 412.",
    "schema": {"type": "string", "enum": ["1.0.0"]},
}
_UPLOAD_ID = _path_param(
    "upload_id", "The upload's id (32 hexadecimal digits); the job it becomes has the same id."
)
_BYTES = {"type": "integer", "minimum": 0}
_TUS_HEADERS = {
    "Tus-Resumable": {"description": "`1.0.0`", "schema": STRING, "required": True},
}
_UPLOAD_EXPIRES = {
    "description": "When the unfinished upload expires (HTTP date)",
    "schema": STRING,
}


def _tus_options(operation_id: str, errors: tuple[int, ...] = ()) -> dict:
    return _operation(
        operation_id,
        "The tus server's version, extensions, size limit and checksum algorithms",
        "uploads",
        {
            "204": {
                "description": "What the server supports.",
                "headers": {
                    "Tus-Version": {"schema": STRING, "required": True},
                    "Tus-Extension": {"schema": STRING, "required": True},
                    "Tus-Max-Size": {"schema": _BYTES, "required": True},
                    "Tus-Checksum-Algorithm": {"schema": STRING, "required": True},
                },
            }
        },
        public=True,
        errors=errors,
    )


_TUS_PATHS = {
    "/files": {
        "options": _tus_options("tusOptions"),
        "post": _operation(
            "createUpload",
            "Create a resumable upload (tus 1.0 creation)",
            "uploads",
            {
                "201": {
                    "description": "The upload; send its bytes with PATCH to `Location`.",
                    "headers": {
                        **_TUS_HEADERS,
                        "Location": {**_HEADERS["Location"], "required": True},
                        "Upload-Expires": {**_UPLOAD_EXPIRES, "required": True},
                    },
                }
            },
            errors=(400, 412, 413, 422, 429, 503),
            parameters=[
                _TUS_RESUMABLE,
                {
                    "name": "Upload-Length",
                    "in": "header",
                    "required": True,
                    "description": "The file's size in bytes.",
                    "schema": _BYTES,
                },
                _header_param(
                    "Upload-Metadata",
                    "Comma-separated `key base64(value)` pairs: `filename`, `filetype`, and "
                    "the fields `POST /upload` takes (conversion options, `keep_video`, "
                    "`webhook_url`).",
                ),
            ],
        ),
    },
    "/files/{upload_id}": {
        "parameters": [_UPLOAD_ID],
        "options": _tus_options("tusUploadOptions", errors=(404,)),
        "head": _operation(
            "uploadOffset",
            "How many bytes of the upload arrived (tus HEAD)",
            "uploads",
            {
                "200": {
                    "description": "The offset; resume from there.",
                    "headers": {
                        **_TUS_HEADERS,
                        "Upload-Offset": {"schema": _BYTES, "required": True},
                        "Upload-Length": {"schema": _BYTES, "required": True},
                        "Upload-Metadata": {"schema": STRING},
                        "Upload-Expires": _UPLOAD_EXPIRES,
                    },
                }
            },
            errors=(404, 410, 412, 503),
            parameters=[_TUS_RESUMABLE],
        ),
        "patch": _operation(
            "appendUpload",
            "Send bytes of the upload from `Upload-Offset` (tus PATCH); the last byte queues "
            "the job",
            "uploads",
            {
                "204": {
                    "description": "Stored; the new offset (the job exists once it equals the "
                    "length).",
                    "headers": {
                        **_TUS_HEADERS,
                        "Upload-Offset": {"schema": _BYTES, "required": True},
                        "Upload-Expires": _UPLOAD_EXPIRES,
                    },
                }
            },
            errors=(400, 404, 409, 410, 412, 413, 415, 422, 423, 460, 503),
            parameters=[
                _TUS_RESUMABLE,
                {
                    "name": "Upload-Offset",
                    "in": "header",
                    "required": True,
                    "description": "Where these bytes start; must equal the upload's offset.",
                    "schema": _BYTES,
                },
                _header_param(
                    "Upload-Checksum", "`sha1 BASE64` or `sha256 BASE64` of this request's bytes."
                ),
            ],
            requestBody={
                "required": True,
                "content": {
                    "application/offset+octet-stream": {
                        "schema": {"type": "string", "format": "binary"}
                    }
                },
            },
        ),
        "delete": _operation(
            "terminateUpload",
            "Give up an upload (tus termination); a finished upload's job stays",
            "uploads",
            {"204": {"description": "Gone.", "headers": _TUS_HEADERS}},
            errors=(404, 410, 412, 423, 503),
            parameters=[_TUS_RESUMABLE],
        ),
    },
}

_PATHS = {
    "/healthz": {
        "get": _operation(
            "liveness",
            "Liveness: the process answers",
            "operations",
            {"200": _json({"type": "object", "properties": {"status": STRING}}, "Alive.")},
            public=True,
        )
    },
    "/readyz": {
        "get": _operation(
            "readiness",
            "Readiness: database, storage and broker answer",
            "operations",
            {
                "200": _json(
                    {
                        "type": "object",
                        "properties": {
                            "status": STRING,
                            "checks": {"type": "object", "additionalProperties": STRING},
                        },
                    },
                    "Ready.",
                )
            },
            public=True,
            errors=(503,),
        )
    },
    "/metrics": {
        "get": _operation(
            "metrics",
            "Prometheus metrics of every web worker",
            "operations",
            {"200": {"description": "Exposition format.", "content": {"text/plain": {}}}},
            public=True,
        )
    },
    "/login": {
        "post": _operation(
            "login",
            "Exchange credentials (HTTP Basic or JSON) for an access token",
            "auth",
            {"200": _TOKEN},
            public=True,
            errors=(400, 401, 429, 503),
            security=[{"basicAuth": []}, {}],
            description="Repeated failures lock the account and the client address for a "
            "while: 429 with Retry-After.",
            requestBody={
                "required": False,
                "description": "Credentials, when not sent with HTTP Basic.",
                "content": {"application/json": {"schema": schema_ref("Credentials")}},
            },
        )
    },
    "/validate": {
        method: _operation(
            f"validate{method.title()}",
            "The claims of the bearer token",
            "auth",
            {"200": _json({"type": "object", "additionalProperties": True}, "The claims.")},
            errors=(503,),
        )
        for method in ("post", "get")
    },
    "/upload": {
        "post": _operation(
            "upload",
            "Upload a video and queue its conversion",
            "jobs",
            {
                "202": {
                    **_json(
                        schema_ref("Job"),
                        "The queued job; already done when the same user uploaded the same bytes"
                        " with the same options before (an instant repeat sharing that MP3).",
                    ),
                    "headers": {"Location": {**_HEADERS["Location"], "required": True}},
                }
            },
            errors=(400, 413, 415, 422, 429, 503),
            requestBody={
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": UPLOAD_FORM,
                        "encoding": {"file": {"contentType": "video/*, audio/*"}},
                    }
                },
            },
        )
    },
    "/jobs": {
        "get": _operation(
            "listJobs",
            "The caller's jobs, newest first",
            "jobs",
            {"200": _json(schema_ref("JobPage"), "One page of jobs.")},
            errors=(400, 503),
            parameters=[
                _query_param(
                    "limit", "Page size.", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}
                ),
                _query_param(
                    "offset",
                    "Jobs to skip.",
                    {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                ),
                _query_param("all", "Admins only: everyone's jobs.", {"type": "boolean"}),
            ],
        )
    },
    "/jobs/{job_id}": {
        "parameters": [_JOB_ID],
        "get": _operation("getJob", "One job", "jobs", {"200": _JOB}, errors=(404, 503)),
        "delete": _operation(
            "deleteJob",
            "Cancel the job and delete its video and MP3",
            "jobs",
            {"200": _json(schema_ref("Job"), "The cancelled job.")},
            errors=(404, 503),
        ),
    },
    "/jobs/{job_id}/retry": {
        "parameters": [_JOB_ID],
        "post": _operation(
            "retryJob",
            "Run a failed job again from the step that failed",
            "jobs",
            {"202": _json(schema_ref("Job"), "The job, queued again.")},
            errors=(404, 409, 503),
        ),
    },
    "/jobs/{job_id}/notify": {
        "parameters": [_JOB_ID],
        "post": _operation(
            "notifyJob",
            "Send a done job's e-mail again when it was given up (never twice)",
            "jobs",
            {"202": _json(schema_ref("Job"), "The job, its e-mail pending again.")},
            errors=(404, 409, 503),
        ),
    },
    "/jobs/{job_id}/mp3": {
        "parameters": [_JOB_ID],
        **_mp3_operations("getJobMp3", "The job's MP3", parameters=_MP3_PARAMS),
    },
    "/jobs/{job_id}/waveform": {
        "parameters": [_JOB_ID],
        "get": _operation(
            "getJobWaveform",
            "The MP3's waveform peaks (audiowaveform's JSON layout)",
            "files",
            {"200": _json({"type": "object"}, "The peaks.")},
            errors=(404, 503),
        ),
    },
    "/download": {
        **_mp3_operations(
            "download",
            "An MP3 by file id (the original service's route)",
            errors=(400, 404, 416, 503),
            parameters=[
                _query_param("fid", "The file id.", {"type": "string", "minLength": 1}, True),
                *_MP3_PARAMS,
            ],
        )
    },
    "/d/{token}": {
        "parameters": [_path_param("token", "The signed token from the e-mail.")],
        **_mp3_operations(
            "signedDownload",
            "An MP3 by the signed, expiring link from the e-mail; no bearer token",
            errors=(401, 404, 416, 503),
            parameters=_MP3_PARAMS,
            public=True,
        ),
    },
    "/account/tokens": {
        "get": _operation(
            "listAccessTokens",
            "The caller's personal access tokens (needs a password login)",
            "account",
            {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["items"],
                        "properties": {
                            "items": {"type": "array", "items": schema_ref("PersonalAccessToken")}
                        },
                    },
                    "The tokens, without their secrets.",
                )
            },
            errors=(403, 503),
        ),
        "post": _operation(
            "createAccessToken",
            "Create a personal access token; its secret is shown once",
            "account",
            {
                "201": {
                    **_json(schema_ref("PersonalAccessToken"), "The token, with `token`."),
                    "headers": {"Location": {**_HEADERS["Location"], "required": True}},
                }
            },
            errors=(400, 403, 415, 422, 503),
            requestBody={
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["name", "scopes"],
                            "properties": {
                                "name": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": 100,
                                    "pattern": r"\S",
                                },
                                "scopes": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"type": "string", "enum": ["read", "upload"]},
                                },
                                "expires_in_days": nullable(
                                    {"type": "integer", "minimum": 1, "maximum": 3650}
                                ),
                            },
                        }
                    }
                },
            },
        ),
    },
    "/account/tokens/{token_id}": {
        "parameters": [_path_param("token_id", "The token's id.", {"type": "integer"})],
        "delete": _operation(
            "revokeAccessToken",
            "Revoke one of the caller's personal access tokens",
            "account",
            {"204": {"description": "Revoked."}},
            errors=(403, 404, 503),
        ),
    },
    "/auth/oidc/login": {
        "get": _operation(
            "oidcLogin",
            "Single sign-on: go to the OpenID provider (when OIDC_ISSUER is set)",
            "auth",
            {
                "302": {
                    "description": "To the provider.",
                    "headers": {"Location": _HEADERS["Location"]},
                }
            },
            public=True,
            errors=(503,),
        )
    },
    "/auth/oidc/callback": {
        "get": _operation(
            "oidcCallback",
            "Single sign-on: the provider sends the browser back here",
            "auth",
            {"200": _TOKEN},
            public=True,
            errors=(400, 401, 403, 503),
            parameters=[
                _query_param("code", "The authorization code.", STRING),
                _query_param("state", "The state sent to the provider.", STRING),
                _query_param("error", "The provider's refusal.", STRING),
                _query_param("error_description", "Why it refused.", STRING),
            ],
        )
    },
    "/openapi.json": {
        "get": _operation(
            "openapi",
            "This document",
            "documentation",
            {"200": _json({"type": "object"}, "OpenAPI 3.0.")},
            public=True,
        )
    },
    "/docs": {
        "get": _operation(
            "docs",
            "Swagger UI over this document",
            "documentation",
            {"200": {"description": "The page.", "content": {"text/html": {}}}},
            public=True,
        )
    },
    "/apidocs": {
        "get": _operation(
            "apidocs",
            "The original service's documentation path: redirects to /docs",
            "documentation",
            {"301": {"description": "To /docs.", "headers": {"Location": _HEADERS["Location"]}}},
            public=True,
        )
    },
}


_ADMIN_FILTERS = [
    _query_param(
        "state",
        "Only jobs in this state.",
        {"type": "string", "enum": [state.value for state in JobState]},
    ),
    _query_param("user", "Only jobs of users whose e-mail contains this.", STRING),
    _query_param("since", "Created at or after (UTC).", {"type": "string", "format": "date-time"}),
    _query_param("until", "Created before (UTC).", {"type": "string", "format": "date-time"}),
    _query_param("error", "Only jobs whose reason contains this.", STRING),
]
_QUEUE = _path_param("queue", "A queue's name, as in `GET /admin/api/queues`.")


def _admin(operation_id: str, summary: str, status: str, schema: str, errors=(), **extra) -> dict:
    """An admin operation: an admin's password login only; anyone else gets 404."""
    response = _json(schema_ref(schema), summary)
    return _operation(
        operation_id, summary, "admin", {status: response}, errors=(404, *errors), **extra
    )


_PATHS.update(
    {
        "/admin/api/overview": {
            "get": _admin(
                "adminOverview", "Jobs by state, throughput, queues", "200", "AdminOverview"
            )
        },
        "/admin/api/queues": {
            "get": _admin(
                "adminQueues", "Every queue's depth, delayed and dead", "200", "AdminQueues"
            )
        },
        "/admin/api/queues/{queue}/{action}": {
            "parameters": [
                _QUEUE,
                _path_param(
                    "action",
                    "What to do with the dead letters.",
                    {"type": "string", "enum": ["requeue", "purge"]},
                ),
            ],
            "post": _admin(
                "adminDeadLetters", "Requeue or purge a queue's dead letters", "200", "AdminCount"
            ),
        },
        "/admin/api/queues/{queue}/dead/{message_id}/{action}": {
            "parameters": [
                _QUEUE,
                _path_param("message_id", "A dead letter's message id, as in `dead_letters`."),
                _path_param(
                    "action",
                    "Run its job again (`requeue`) or drop it (`purge`).",
                    {"type": "string", "enum": ["requeue", "purge"]},
                ),
            ],
            "post": _admin(
                "adminDeadLetter", "Requeue or purge one dead letter", "200", "AdminCount"
            ),
        },
        "/admin/api/jobs": {
            "get": _admin(
                "adminJobs",
                "Every user's jobs, filtered, sorted, paged",
                "200",
                "AdminJobPage",
                errors=(400,),
                parameters=[
                    *_ADMIN_FILTERS,
                    _query_param(
                        "sort",
                        "A column, `-` first for descending.",
                        {
                            "type": "string",
                            "pattern": "^-?(created|updated|finished|state|user|attempts)$",
                        },
                    ),
                    _query_param(
                        "page", "From 1.", {"type": "integer", "minimum": 1, "maximum": 1_000_000}
                    ),
                    _query_param(
                        "per_page", "Jobs per page.", {"type": "integer", "enum": [25, 50, 100]}
                    ),
                ],
            )
        },
        "/admin/api/jobs/retry": {
            "post": _admin(
                "adminRetryMatching",
                "Retry every failed job that matches",
                "202",
                "AdminCount",
                errors=(400,),
                parameters=_ADMIN_FILTERS,
            )
        },
        "/admin/api/jobs/{job_id}": {
            "parameters": [_JOB_ID],
            "get": _admin("adminJob", "A job with its owner and timeline", "200", "AdminJob"),
            "delete": {
                **_admin(
                    "adminDeleteJob",
                    "Delete a job, its files and timeline",
                    "200",
                    "AdminJob",
                    errors=(503,),
                ),
                "responses": {"204": {"description": "Deleted."}, **_errors(401, 403, 404, 503)},
            },
        },
        "/admin/api/jobs/{job_id}/{action}": {
            "parameters": [
                _JOB_ID,
                _path_param(
                    "action", "What to do.", {"type": "string", "enum": ["retry", "cancel"]}
                ),
            ],
            "post": {
                **_admin(
                    "adminJobAction", "Retry or cancel a job", "200", "AdminJob", errors=(409, 503)
                ),
                "responses": {
                    "200": _json(schema_ref("AdminJob"), "Cancelled."),
                    "202": _json(schema_ref("AdminJob"), "Queued again."),
                    **_errors(401, 403, 404, 409, 503),
                },
            },
        },
        "/admin/api/workers": {
            "get": _admin(
                "adminWorkers", "Every worker process, live or gone", "200", "AdminWorkers"
            )
        },
    }
)

DOCUMENT = {
    "openapi": "3.0.3",
    "info": {
        "title": "vid2mp3",
        "version": metadata.version("vid2mp3"),
        "description": "Upload videos, get MP3s. Log in with `POST /login` for a bearer token. "
        "Every error is `application/problem+json` (RFC 9457) with a precise `detail`.",
    },
    "tags": [
        {"name": "auth", "description": "Tokens"},
        {"name": "jobs", "description": "Uploads and conversions"},
        {"name": "uploads", "description": "Resumable uploads (tus 1.0) that become jobs"},
        {"name": "files", "description": "MP3s and their waveforms"},
        {"name": "account", "description": "Personal access tokens"},
        {"name": "operations", "description": "Probes and metrics"},
        {"name": "documentation", "description": "This description"},
        {"name": "admin", "description": "The admin dashboard's JSON (an admin's login)"},
    ],
    "security": [{"bearerAuth": []}],
    "paths": {**_PATHS, **_TUS_PATHS},
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from `POST /login`, or a personal access token.",
            },
            "basicAuth": {"type": "http", "scheme": "basic", "description": "For `POST /login`."},
        },
        "schemas": SCHEMAS,
        "responses": {
            name: _error_response(description, headers)
            for name, description, headers in _ERRORS.values()
        },
    },
}


def route_path(template: str) -> str:
    """Return a Falcon URI template as OpenAPI writes it: `{job_id:uuid}` becomes `{job_id}`."""
    return _CONVERTER.sub(r"{\1}", template)


def routed_operations(app: falcon.App) -> set[tuple[str, str]]:
    """Return every (path, METHOD) the app routes to a responder of ours (not Falcon's defaults)."""
    return {
        (route_path(route.path), method.method)
        for route in falcon.inspect.inspect_routes(app)
        for method in route.methods
        if not method.internal
    }


def served_document(app: falcon.App) -> dict:
    """Return `DOCUMENT` with only the operations `app` routes."""
    routed = routed_operations(app)
    document = copy.deepcopy(DOCUMENT)
    paths = {}
    for path, item in document["paths"].items():
        kept = {key: value for key, value in item.items() if (path, key.upper()) in routed}
        if kept:
            if "parameters" in item:
                kept["parameters"] = item["parameters"]
            paths[path] = kept
    document["paths"] = paths
    return document


class OpenApiResource:
    """`GET /openapi.json`: the document, built on first use (after every route is added)."""

    auth_required = False

    def __init__(self, app: falcon.App) -> None:
        self._app = app
        self._document: dict | None = None
        self._bodies: dict[str, bytes] = {}

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # The server is the app's root path, so Swagger UI's calls keep a proxy's path prefix;
        # one body per root path (there is one, or a few sent by trusted proxies).
        root = req.root_path
        if root not in self._bodies:
            if self._document is None:
                self._document = served_document(self._app)
            document = {**self._document, "servers": [{"url": root or "/"}]}
            self._bodies[root] = json.dumps(document).encode()
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._bodies[root]
