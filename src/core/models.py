"""Define the database tables: users, jobs, events, workers, throttling, tokens, uploads."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from core.states import JobState, Step, check_transition


def utcnow() -> dt.datetime:
    """Return the current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Store naive UTC with microseconds (MySQL has no time zones) and return aware UTC."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use core.models.utcnow()")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class User(Base):
    """An account that can log in; admins see every job."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    jobs: Mapped[list[Job]] = relationship(back_populates="user", passive_deletes=True)


def new_job_id() -> str:
    """Return a fresh job id; blob ids derive from it, so it is chosen before the upload."""
    return uuid.uuid4().hex


class Job(Base):
    """One video's way to an MP3; the source of truth for the pipeline, not the broker."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_state_updated", "state", "updated_at"),
        Index("ix_jobs_email_due", "email_due_at"),
        # The fair queue's turn of each user (core.fairqueue): their last release.
        Index("ix_jobs_user_enqueued", "user_id", "enqueued_at"),
        # The admin overview counts jobs finished in the last hour and day.
        Index("ix_jobs_finished", "finished_at", "state"),
        # Instant repeats look up a user's finished job by the upload's content.
        Index("ix_jobs_user_video_sha256", "user_id", "video_sha256"),
        # Deleting a job counts the other jobs that share its MP3.
        Index("ix_jobs_mp3_blob", "mp3_blob_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_job_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED.value)
    failed_step: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)

    original_filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(127))
    video_blob_id: Mapped[str | None] = mapped_column(String(64))
    video_size: Mapped[int | None] = mapped_column(BigInteger)
    # SHA-256 of the uploaded bytes, computed while they streamed into the store.
    video_sha256: Mapped[str | None] = mapped_column(String(64))
    mp3_blob_id: Mapped[str | None] = mapped_column(String(64))
    mp3_size: Mapped[int | None] = mapped_column(BigInteger)
    mp3_sha256: Mapped[str | None] = mapped_column(String(64))
    mp3_duration: Mapped[float | None] = mapped_column(Float)
    mp3_bitrate: Mapped[int | None] = mapped_column(Integer)

    duration: Mapped[float | None] = mapped_column(Float)
    media: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    keep_video: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_url: Mapped[str | None] = mapped_column(String(2048))

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    converted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    stored_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the job's message reached the broker; NULL while the dispatcher still owes it.
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the owner's e-mail is next tried; NULL when it is sent or no longer tried.
    email_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="jobs")

    @property
    def job_state(self) -> JobState:
        """Return the state as the enum."""
        return JobState(self.state)

    def move_to(self, target: JobState) -> None:
        """Change state, refusing a change the state machine does not allow."""
        check_transition(self.job_state, target)
        self.state = target.value
        self.updated_at = utcnow()
        if target.finished:
            self.finished_at = utcnow()

    def fail(self, step: Step, reason: str) -> None:
        """Mark the job failed at `step` with a reason its owner can read."""
        self.move_to(JobState.FAILED)
        self.failed_step = step.value
        self.reason = reason


class LoginThrottle(Base):
    """Failed logins per key (account or client address), shared by every web worker."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class RevokedToken(Base):
    """A signed-out token's id, refused until the token would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class PersonalAccessToken(Base):
    """A long-lived API credential for scripts; only the SHA-256 of its secret is stored."""

    __tablename__ = "personal_access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class JobEvent(Base):
    """One attempt of one step of a job: when, on which worker, and how it ended."""

    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job", "job_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    step: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    worker_host: Mapped[str] = mapped_column(String(255))
    worker_pid: Mapped[int] = mapped_column(Integer)
    # None while the attempt runs; then done, retry, failed, cancelled or lease_lost.
    outcome: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class WorkerProcess(Base):
    """A worker process's heartbeat: what it consumes and what it has done."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[str] = mapped_column(String(1024))
    threads: Mapped[int] = mapped_column(Integer)
    current_jobs: Mapped[list[str] | None] = mapped_column(JSON)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    jobs_done: Mapped[int] = mapped_column(Integer, default=0)
    jobs_failed: Mapped[int] = mapped_column(Integer, default=0)


class Upload(Base):
    """A resumable (tus) upload: how many bytes arrived, its lock and when it is given up.

    Its id becomes the job's id and the video blob's id once the last byte is in.
    """

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_job_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str | None] = mapped_column(String(127))
    # The job's fields from Upload-Metadata: conversion options, keep_video, webhook_url.
    fields: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The writer holding the upload (core.uploads): a random token and when its hold lapses.
    lock_token: Mapped[str | None] = mapped_column(String(32))
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
