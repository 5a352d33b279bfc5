# syntax=docker/dockerfile:1
# One image for every vid2mp3 process: `vid2mp3 serve`, `vid2mp3 worker`, `vid2mp3 migrate`.
# No system ffmpeg: the imageio-ffmpeg wheel ships a static binary.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtualenv with the dependencies, then the project (editable, see below) ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when setup.cfg/pyproject.toml change.
COPY pyproject.toml setup.cfg README.md ./
RUN mkdir -p src \
    && pip install --upgrade pip setuptools wheel \
    && pip install . \
    && pip uninstall -y vid2mp3

# The project itself. `vid2mp3 migrate` finds alembic.ini and migrations/ two levels above
# src/vid2mp3/migrate.py, i.e. at /app: an editable install keeps the code in /app/src,
# next to them, exactly as in a clone of the repository.
COPY alembic.ini ./
COPY migrations ./migrations
COPY src ./src
RUN pip install --no-deps -e . \
    && python -m compileall -q /app/src /app/migrations

# ---- runtime: the venv and /app only, run as an unprivileged user ----
FROM ${PYTHON_IMAGE} AS runtime
ARG UID=10001
RUN groupadd --system --gid ${UID} vid2mp3 \
    && useradd --system --uid ${UID} --gid ${UID} --home-dir /app --shell /usr/sbin/nologin vid2mp3 \
    && mkdir -p /var/lib/vid2mp3 \
    && chown ${UID}:${UID} /var/lib/vid2mp3

COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/var/lib/vid2mp3 \
    LOG_FORMAT=json
WORKDIR /app
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER ${UID}:${UID}

# 8080: the web app; 9100: a worker group's Prometheus metrics (METRICS_PORT).
EXPOSE 8080 9100
ENTRYPOINT ["vid2mp3"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
