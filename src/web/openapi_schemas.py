"""The OpenAPI schemas of the API's bodies: jobs, tokens, problems and the upload form."""

from __future__ import annotations

from conversion.options import MAX_TAG_LENGTH, MP3_BITRATES, MP3_SAMPLE_RATES
from core.states import JobState, Step


def schema_ref(name: str) -> dict:
    """Return a reference to the named schema of the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    """Return `schema` that also allows null (OpenAPI 3.0's way)."""
    return {**schema, "nullable": True}


STRING, INTEGER, NUMBER = {"type": "string"}, {"type": "integer"}, {"type": "number"}
TIMESTAMP = nullable({"type": "string", "format": "date-time"})
TIME = {
    "type": "string",
    "pattern": r"^\s*(\d+(\.\d+)?|(\d+:)?\d+:\d{1,2}(\.\d+)?)\s*$",
    "description": "Seconds (`90.5`) or a clock time (`1:30`, `0:01:30.5`).",
}

UPLOAD_FORM = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "The video (or audio) file; its first bytes must be a media container.",
        },
        "bitrate": {
            "type": "integer",
            "enum": list(MP3_BITRATES),
            "description": "CBR bitrate in kbit/s (default 192; `128k` is accepted too).",
        },
        "vbr_quality": {
            "type": "integer",
            "minimum": 0,
            "maximum": 9,
            "description": "LAME VBR quality, 0 best; not with `bitrate`.",
        },
        "sample_rate": {
            "type": "integer",
            "enum": list(MP3_SAMPLE_RATES),
            "description": "Output sample rate in Hz (default: the source's).",
        },
        "channels": {
            "type": "integer",
            "enum": [1, 2],
            "description": "1 (mono) or 2 (stereo, default); `mono`/`stereo` also work.",
        },
        "start": {**TIME, "description": f"Where to start. {TIME['description']}"},
        "end": {**TIME, "description": f"Where to end, after start. {TIME['description']}"},
        "normalize": {"type": "boolean", "description": "Normalise loudness (EBU R128)."},
        "title": {"type": "string", "maxLength": MAX_TAG_LENGTH, "description": "ID3 title."},
        "artist": {"type": "string", "maxLength": MAX_TAG_LENGTH, "description": "ID3 artist."},
        "album": {"type": "string", "maxLength": MAX_TAG_LENGTH, "description": "ID3 album."},
        "cover": {
            "description": "The MP3's picture: `auto` (the source's own, else a still of its "
            "video; the default), `none`, or an image file (JPEG, PNG, GIF or WebP) in this part.",
            "anyOf": [
                {"type": "string", "enum": ["auto", "none"]},
                {"type": "string", "format": "binary"},
            ],
        },
        "audio_track": {
            "type": "integer",
            "minimum": 0,
            "description": "Which audio track, counting audio tracks only from 0.",
        },
        "keep_video": {
            "type": "boolean",
            "description": "Keep the uploaded video after conversion (default: the server's).",
        },
        "webhook_url": {
            "type": "string",
            "format": "uri",
            "maxLength": 2048,
            "description": "An http(s) URL to POST the finished job to, HMAC-signed.",
        },
    },
    "additionalProperties": False,
}

SCHEMAS = {
    "Problem": {
        "type": "object",
        "description": "An RFC 9457 problem; some errors add members (`field`, `limit`, ...).",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": STRING,
            "title": STRING,
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": STRING,
            "field": {"type": "string", "description": "The invalid option (422)."},
            "limit": {"type": "integer", "description": "The size limit in bytes (413)."},
            "error_id": {"type": "string", "description": "Quote it when reporting (500)."},
            "checks": {"type": "object", "additionalProperties": STRING},
        },
    },
    "AccessToken": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": STRING,
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer", "description": "Seconds until it expires."},
        },
    },
    "Credentials": {
        "type": "object",
        "required": ["email", "password"],
        "properties": {"email": STRING, "password": STRING},
    },
    "Job": {
        "type": "object",
        "required": ["id", "state", "progress", "filename", "options", "created_at", "links"],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "state": {"type": "string", "enum": [state.value for state in JobState]},
            "progress": {"type": "number", "minimum": 0, "maximum": 100},
            "filename": {**STRING, "description": "The uploaded file's name, for display."},
            "failed_step": nullable({"type": "string", "enum": [step.value for step in Step]}),
            "reason": nullable({**STRING, "description": "Why it failed, for people."}),
            "attempts": nullable(INTEGER),
            "video_size": nullable(INTEGER),
            "mp3_size": nullable(INTEGER),
            "mp3_duration": nullable(NUMBER),
            "mp3_bitrate": nullable(INTEGER),
            "duration": nullable({**NUMBER, "description": "The source's length in seconds."}),
            "media": nullable({"type": "object", "description": "Facts about the source."}),
            "options": nullable(
                {"type": "object", "description": "The conversion options in effect."}
            ),
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "started_at": TIMESTAMP,
            "finished_at": TIMESTAMP,
            "notified_at": TIMESTAMP,
            "email": nullable(
                {
                    "type": "string",
                    "enum": ["sent", "pending", "failed", None],
                    "description": "Where the owner's e-mail is; null while the job runs.",
                }
            ),
            "queue_position": nullable(
                {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Jobs that start before this queued one (0: next); "
                    "null once it runs. Only in GET /jobs and GET /jobs/{id}.",
                }
            ),
            "estimated_start_at": {
                **TIMESTAMP,
                "description": "When a queued job should start, from the recent conversion "
                "speed and the work ahead of it; null without a measured speed or a live worker.",
            },
            "estimated_finish_at": {
                **TIMESTAMP,
                "description": "When a queued or converting job's MP3 should be ready.",
            },
            "links": {
                "type": "object",
                "required": ["self"],
                "properties": {"self": STRING, "mp3": STRING, "download": STRING},
            },
        },
    },
    "JobPage": {
        "type": "object",
        "required": ["items", "total", "limit", "offset", "next"],
        "properties": {
            "items": {"type": "array", "items": schema_ref("Job")},
            "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
            "next": nullable({**STRING, "description": "The next page's URL, if any."}),
        },
    },
    "PersonalAccessToken": {
        "type": "object",
        "required": ["id", "name", "scopes", "hint", "created_at"],
        "properties": {
            "id": INTEGER,
            "name": STRING,
            "scopes": {"type": "array", "items": {"type": "string", "enum": ["read", "upload"]}},
            "hint": {**STRING, "description": "The token's first characters."},
            "created_at": TIMESTAMP,
            "expires_at": TIMESTAMP,
            "last_used_at": TIMESTAMP,
            "token": {**STRING, "description": "The secret, only in the answer to its creation."},
        },
    },
    **{
        name: {"type": "object", "required": required, "properties": properties}
        for name, required, properties in (
            (
                "AdminOverview",
                ["jobs_by_state", "finished", "queues", "workers"],
                {
                    "jobs_by_state": {"type": "object", "additionalProperties": INTEGER},
                    "finished": {"type": "object", "description": "`hour` and `day`."},
                    "median_wait_seconds": nullable(NUMBER),
                    "median_conversion_seconds": nullable(NUMBER),
                    "queues": schema_ref("AdminQueues"),
                    "workers": {"type": "object", "description": "`live` and `gone` counts."},
                },
            ),
            (
                "AdminQueues",
                ["broker", "items", "dead_letters", "error"],
                {
                    "broker": nullable(STRING),
                    "items": {"type": "array", "items": {"type": "object"}},
                    "dead_letters": {"type": "array", "items": schema_ref("AdminDeadLetter")},
                    "error": nullable(STRING),
                },
            ),
            (
                "AdminDeadLetter",
                ["queue", "message_id", "actor", "job_id", "error", "at"],
                {
                    "queue": STRING,
                    "message_id": STRING,
                    "actor": STRING,
                    "job_id": nullable(STRING),
                    "error": {
                        **nullable(STRING),
                        "description": "The exception that dead-lettered it (no stack trace).",
                    },
                    "at": {
                        **TIMESTAMP,
                        "description": "When it was dead-lettered (the broker's record), "
                        "else when it was last sent.",
                    },
                },
            ),
            (
                "AdminJob",
                ["id", "state", "user"],
                {"user": STRING, "timeline": {"type": "array", "items": {"type": "object"}}},
            ),
            (
                "AdminJobPage",
                ["items", "total", "page", "per_page"],
                {
                    "items": {"type": "array", "items": schema_ref("AdminJob")},
                    "total": INTEGER,
                    "page": INTEGER,
                    "per_page": INTEGER,
                },
            ),
            (
                "AdminWorkers",
                ["items"],
                {"items": {"type": "array", "items": {"type": "object"}}},
            ),
            ("AdminCount", [], {"retried": INTEGER, "requeued": INTEGER, "purged": INTEGER}),
        )
    },
}
