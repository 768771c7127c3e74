# syntax=docker/dockerfile:1
# The AgentTask operator image. Build from the repository root:
#   docker build -t ghcr.io/agenttasks/agenttask-operator:0.1.0 .

# The base image. Users build on the official one; the local real node (no image can be
# pulled there) passes a stand-in made from Debian's packages: --build-arg BASE_IMAGE=…
ARG BASE_IMAGE=python:3.11-slim

# --- builder: wheels of the project and of every dependency -------------------------------
FROM ${BASE_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The lock first (its own layer): exactly the pinned, hashed dependencies, as wheels.
COPY requirements/runtime.txt ./requirements/
RUN pip wheel --require-hashes --wheel-dir /wheels -r requirements/runtime.txt \
    && pip install --no-index --find-links=/wheels --upgrade setuptools
# README.md and LICENSE are named in pyproject.toml: setuptools needs them to build.
COPY pyproject.toml README.md LICENSE ./
COPY operator/ ./operator/
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# --- final: the wheels installed, no build tools, an unprivileged user ----------------------
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Wheels only, from the builder's folder: nothing is fetched or compiled here.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels agenttasks \
    && groupadd --gid 65532 nonroot \
    && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin nonroot

USER 65532:65532
WORKDIR /tmp

# 8080: /healthz, /readyz, /metrics, /hooks/, dashboard. 9443: the admission webhook (HTTPS).
EXPOSE 8080 9443

ENTRYPOINT ["agenttasks", "operator"]
