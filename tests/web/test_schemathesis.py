"""Schemathesis over `/openapi.json`, every operation, against the real app with a valid token.

No response may be a server error or contradict the document (status, content type, body
schema, headers), for data that fits the document and for data that does not. The app runs on
this run's MariaDB and secantusdb, as in every web test. Operations on a job run twice: with
ids schemathesis makes up (404s) and on a real job with a stored MP3 (200, 206, 304, 416...).

Schemathesis' pytest loader (`schemathesis.pytest.from_fixture`) fails on pytest 9 (it reads
`request.node._nodeid`), so each operation runs through `operation.as_strategy()` under
Hypothesis' `@given` here, and the failures of all operations are reported together.
"""

from __future__ import annotations

import io
import os
import uuid

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from core import uploads
from core.db import session_scope
from core.models import Job, utcnow
from core.tokens import DOWNLOAD_AUDIENCE

# tus PATCH bodies are raw bytes, sent as schemathesis sends application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

EXAMPLES = 15
# Each login checks an argon2 hash, even for an unknown account (about 0.25 s).
LOGIN_EXAMPLES = 8
# Login failures are throttled per client address: these requests come from their own.
CLIENT_ADDRESS = f"198.51.100.{uuid.uuid4().int % 250 + 1}"


def stored_job(services, sessions, user) -> Job:
    """Return a done job of `user` with an MP3 in the store."""
    job = Job(user_id=user.id, state="done", original_filename="clip.mp4")
    with session_scope(sessions) as session:
        session.add(job)
        session.flush()
        data = os.urandom(20_000)
        services.store.put("mp3s", job.id, io.BytesIO(data), filename="clip.mp3")
        job.mp3_blob_id, job.mp3_size, job.stored_at = job.id, len(data), utcnow()
    return job


def real_targets(operation, services, sessions, user) -> dict | None:
    """Return fixed parameters that make `operation` act on a real job, or None."""
    names = {parameter.name for parameter in operation.iter_parameters()}
    if "upload_id" in names:
        with session_scope(sessions) as session:
            upload = uploads.create(session, user.id, 64, "clip.mp4", None, {}, 3600)
        return {"path_parameters": {"upload_id": upload.id}}
    if not names & {"job_id", "fid", "token"}:
        return None
    job = stored_job(services, sessions, user)
    if "fid" in names:
        return {"query": {"fid": job.mp3_blob_id}}
    if "token" in names:
        token, _ = services.tokens.issue(job.id, audience=DOWNLOAD_AUDIENCE, ttl_seconds=600)
        return {"path_parameters": {"token": token}}
    return {"path_parameters": {"job_id": job.id}}


def excluded_checks(operation) -> list:
    """Return the checks that do not apply to `operation`, each for a reason given here."""
    # Negative cases mostly drop the Authorization header, which every call then sends, or add
    # unknown query parameters, which the API ignores as HTTP APIs do: neither is a contradiction.
    excluded = [negative_data_rejection]
    if operation.path.startswith("/files"):
        # tus answers by the upload's state, not the schema: `Upload-Offset` must be the
        # upload's own (409), the last byte must make a media file (415), metadata holds
        # options with cross-field rules (422), and a made-up upload id is 404.
        excluded.append(positive_data_acceptance)
    if operation.path == "/upload":
        # Cross-field rules (vbr_quality or bitrate, bitrate within the sample rate's range, end
        # after start) are not expressible in OpenAPI 3.0: a schema-valid form may get 422.
        excluded.append(positive_data_acceptance)
    return excluded


def with_media(case, video: bytes):
    """Put a real video in a generated upload form, so that valid options reach 202."""
    if isinstance(case.body, dict):
        case.body = {**case.body, "file": video}
    return case


def test_the_app_answers_as_its_document_says(make_client, auth, services, sessions, user, clip):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", make_client().app)
    failures, counts = [], {"operations": 0, "examples": 0}
    statuses: dict[str, set[int]] = {}
    video = clip.read_bytes()

    def run(operation, mode, fixed):
        # `POST /login` takes HTTP Basic or JSON credentials, never a bearer token.
        headers = {} if operation.path == "/login" else auth
        strategy = operation.as_strategy(generation_mode=mode, **fixed)
        if operation.path == "/upload" and mode.is_positive:
            strategy = strategy.map(lambda case: with_media(case, video))
        excluded = excluded_checks(operation)
        examples = LOGIN_EXAMPLES if operation.path == "/login" else EXAMPLES

        @given(case=strategy)
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
        def exercise(case):
            counts["examples"] += 1
            response = case.call_and_validate(
                headers=headers,
                excluded_checks=excluded,
                environ_base={"REMOTE_ADDR": CLIENT_ADDRESS},
            )
            statuses.setdefault(operation.label, set()).add(response.status_code)

        try:
            exercise()
        except Unsatisfiable:
            pass  # nothing to break: no parameters or body that could be made invalid
        except (Exception, BaseExceptionGroup) as error:  # report every operation's failures
            failures.append(f"{operation.label} ({mode}, {sorted(fixed)}):\n{error}")

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        counts["operations"] += 1
        for mode in GenerationMode:
            run(operation, mode, {})
            fixed = real_targets(operation, services, sessions, user)
            if fixed is not None:
                run(operation, mode, fixed)

    print(f"schemathesis: {counts['operations']} operations, {counts['examples']} examples")
    for label, seen in sorted(statuses.items()):
        print(f"  {label}: {sorted(seen)}")
    assert not failures, "\n\n".join(failures)
    assert counts["operations"] == len(operations) >= 15
    # Not only refusals: the real job and the real video reached the successful answers (the
    # first example Hypothesis draws is the simplest: no optional field, header or parameter).
    assert 202 in statuses["POST /upload"]
    for label in (
        "GET /jobs/{job_id}",
        "GET /jobs/{job_id}/mp3",
        "GET /download",
        "GET /d/{token}",
    ):
        assert 200 in statuses[label], label
