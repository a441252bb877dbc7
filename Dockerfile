# syntax=docker/dockerfile:1
# One image recipe for every mynaflow service. Build from the repository root, so the uv
# workspace is visible:
#
#   docker build --build-arg SERVICE=notice-intake --build-arg PORT=8081 -t notice-intake .
#
# SERVICE is the workspace member under services/ (and its console script); PORT is its HTTP
# port. Only the library (`mynaflow`) and that one service are installed: no tools (typer, rich),
# no test packages (pytest). docker-compose.yml builds all four services from this file.
#
# The base images are build arguments with public defaults, so a ward that mirrors images
# internally can point at its own registry without editing this file. Where none can be pulled,
# `make images` builds stand-ins from Debian's mirror and PyPI (docs/deployment.md).
#
# A TLS-inspecting proxy's CA reaches the build as the secret `build-ca` (a PEM bundle):
#   docker build --secret id=build-ca,src=/etc/ssl/certs/ca-certificates.crt ...
# It is mounted only while uv and apt download, and never stored in a layer.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.8

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
RUN test -n "${SERVICE}" \
 || { echo "build with --build-arg SERVICE=<service> (a folder of services/)" >&2; exit 1; }
COPY --from=uv /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app

# Dependencies first, in their own layer: rebuilt only when the lock or a pyproject changes.
# uv checks the lock against the whole workspace, so every member's pyproject.toml is needed
# even though only one service is installed.
COPY uv.lock pyproject.toml ./
COPY shared/pyproject.toml shared/
COPY tools/pyproject.toml tools/
COPY testing/pyproject.toml testing/
COPY services/notice-intake/pyproject.toml services/notice-intake/
COPY services/card-registry/pyproject.toml services/card-registry/
COPY services/deadline-watcher/pyproject.toml services/deadline-watcher/
COPY services/notifier/pyproject.toml services/notifier/
# The uv cache is a build cache mount: the four images download each wheel once.
RUN --mount=type=secret,id=build-ca \
    --mount=type=cache,id=mynaflow-uv,target=/root/.cache/uv \
    if [ -s /run/secrets/build-ca ]; then export SSL_CERT_FILE=/run/secrets/build-ca; fi; \
    uv sync --locked --package "${SERVICE}" --no-dev --no-install-workspace

# Then the code. The workspace members stay editable on purpose: a service finds its
# migrations/ next to its src/ (services/<service>/migrations).
COPY shared/ shared/
COPY services/${SERVICE}/ services/${SERVICE}/
# Installing the members fetches their build backend, so this step needs the CA too.
RUN --mount=type=secret,id=build-ca \
    --mount=type=cache,id=mynaflow-uv,target=/root/.cache/uv \
    if [ -s /run/secrets/build-ca ]; then export SSL_CERT_FILE=/run/secrets/build-ca; fi; \
    uv sync --locked --package "${SERVICE}" --no-dev

FROM ${PYTHON_IMAGE}
ARG SERVICE
ARG PORT
RUN test -n "${PORT}" || { echo "build with --build-arg PORT=<http port>" >&2; exit 1; }
# The notifier renders PDF letters to residents, which need a Japanese font; no other service
# gets one.
RUN --mount=type=secret,id=build-ca \
    if [ "${SERVICE}" = "notifier" ]; then \
      ca=; if [ -s /run/secrets/build-ca ]; then ca=-oAcquire::https::CAInfo=/run/secrets/build-ca; fi; \
      apt-get $ca update \
      && apt-get $ca install -y --no-install-recommends fonts-ipaexfont \
      && rm -rf /var/lib/apt/lists/*; \
    fi
# /var/lib/mynaflow is the one place the service may write: the notifier's PDF letters
# (LETTERS_DIR) go there, and a deployment mounts a volume on it (docs/deployment.md).
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin mynaflow \
 && install -d -o mynaflow -g mynaflow /var/lib/mynaflow
COPY --from=build /app /app
WORKDIR /app
# PYTHONTZPATH is empty so ZoneInfo reads the pinned `tzdata` package, never the image's files:
# Asia/Tokyo is the same in every image and on every developer machine (docs/domain.md, Time).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONTZPATH= \
    SERVICE=${SERVICE} \
    HTTP_PORT=${PORT} \
    LETTERS_DIR=/var/lib/mynaflow/letters
USER mynaflow
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"HTTP_PORT\"]}/readyz', timeout=4)"]
# SIGTERM drains, commits and exits 0 within 10 s (compose stop_grace_period: 10s). `exec`
# makes the service the shell's replacement, so the signal reaches it directly.
STOPSIGNAL SIGTERM
CMD ["/bin/sh", "-c", "exec \"${SERVICE}\""]
