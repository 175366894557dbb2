# leaderbot's container image: `leaderbot run` as the non-root user `leaderbot`, migrations at
# every start, data (SQLite by default) in /var/lib/leaderbot, HEALTHCHECK on GET /healthz.
#
#   docker build -t leaderbot .                       # or: podman build / buildah build
#   docker run --env-file leaderbot.env -p 3000:3000 -v leaderbot-data:/var/lib/leaderbot leaderbot
#
# BASE is any image with python3 >= 3.11 and its venv module (an official slim Python image by
# default; deploy/container-check.sh builds on a local Debian bookworm made with mmdebstrap).
# Build with `--format docker` under buildah/podman: the OCI format has no HEALTHCHECK.
# pip inside the build reads the usual PIP_* variables, passed as build args when your pip
# needs them (e.g. --build-arg PIP_INDEX_URL=…); they are not kept in the final image's
# environment, but like any build arg they show in its history.
ARG BASE=docker.io/library/python:3.11-slim-bookworm

# --- build: the dependencies (a layer of their own, reused until pyproject.toml changes), then
# the wheel of leaderbot itself, all into a venv at the path the final image uses.
FROM ${BASE} AS build
# Marks this stage's images (never the final one), so deploy/container-check.sh can remove the
# build stages that older builds left unnamed and keep only the newest (its layer cache).
LABEL org.leaderbot.stage=build
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG PIP_CERT
ARG PIP_DEFAULT_TIMEOUT=60
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml ./
RUN python3 -m venv /opt/leaderbot \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip install --quiet "setuptools>=77" \
 && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
 && /opt/leaderbot/bin/pip install --quiet -r requirements.txt
COPY README.md ./
COPY bot ./bot
RUN /opt/build/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /src/dist . \
 && /opt/leaderbot/bin/pip install --quiet --no-deps /src/dist/leaderbot-*.whl \
 && /opt/leaderbot/bin/pip uninstall --quiet --yes setuptools pip \
 && /opt/leaderbot/bin/leaderbot --version

# --- the image: the base, a user, the venv. Nothing else: no compiler, no pip, no build tools.
FROM ${BASE}
LABEL org.leaderbot.stage=image
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/leaderbot --no-create-home \
      --shell /usr/sbin/nologin leaderbot \
 && install -d -o leaderbot -g leaderbot -m 0750 /var/lib/leaderbot
COPY --from=build /opt/leaderbot /opt/leaderbot
# PATH in full: an imported root filesystem (as in deploy/container-check.sh) may have none.
ENV PATH=/opt/leaderbot/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LEADERBOT_PORT=3000
USER leaderbot
# SQLite's default file (leaderbot.db, relative) lands here; mount a volume on it to keep it.
WORKDIR /var/lib/leaderbot
VOLUME ["/var/lib/leaderbot"]
EXPOSE 3000
# /healthz answers 200 when the database and every chat platform are ready, 503 otherwise
# (urlopen raises on 503, so the check fails). There is no HTTP server on the console (no chat
# credentials): a console container is for trying things out, not for running.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('LEADERBOT_PORT', '3000'), timeout=4)"]
ENTRYPOINT ["leaderbot"]
# `leaderbot run` applies the database migrations before it starts anything else.
CMD ["run"]
