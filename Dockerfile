# selfmod: the web app (`selfmod serve`) and the job runner (`selfmod worker`) in one image.
#
#   docker build -t selfmod .
#   docker run -p 8080:8080 -e DATABASE_URL=... -e DOCKER_HOST=tcp://sandbox-engine:2375 selfmod
#
# The base is an argument so that a locally built image can stand in where no registry is
# reachable (tag it python:3.11-slim, or pass --build-arg BASE_IMAGE=...). It needs python3 3.11
# with venv. Wheels: when the build context holds a `wheelhouse/` folder (`pip wheel . -w
# wheelhouse` on the host), pip installs from it alone and never goes to the network;
# otherwise it installs from the package index.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/selfmod/bin:$PATH

# Build steps run as root whatever user the base image ends on.
USER root
# The worker shells out to git (workspaces) and ssh-keygen (commit signatures). A base without
# apt (a debootstrap stand-in) gets a warning: the web process runs without them.
RUN set -eu; \
    missing=""; \
    command -v git >/dev/null || missing="$missing git"; \
    command -v ssh-keygen >/dev/null || missing="$missing openssh-client"; \
    if [ -n "$missing" ] && command -v apt-get >/dev/null; then \
      apt-get update -q && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing && \
      rm -rf /var/lib/apt/lists/*; \
    elif [ -n "$missing" ]; then \
      echo "warning: the base image lacks$missing and apt-get; selfmod worker needs them" >&2; \
    fi; \
    if command -v useradd >/dev/null; then \
      groupadd --system --gid 10100 selfmod; \
      useradd --system --uid 10100 --gid selfmod --home-dir /var/lib/selfmod \
        --shell /usr/sbin/nologin selfmod; \
    else \
      echo "selfmod:x:10100:" >> /etc/group; \
      echo "selfmod:x:10100:10100::/var/lib/selfmod:/usr/sbin/nologin" >> /etc/passwd; \
    fi; \
    mkdir -p /var/lib/selfmod/data; \
    chown -R selfmod:selfmod /var/lib/selfmod

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
# Copies nothing but pyproject.toml when there is no wheelhouse (COPY needs one match).
COPY pyproject.toml wheelhouse* ./wheelhouse/
RUN set -eu; \
    python3 -m venv /opt/selfmod; \
    if ls wheelhouse/*.whl >/dev/null 2>&1; then \
      pip install --no-index --find-links wheelhouse 'selfmod[postgres]'; \
    else \
      pip install '.[postgres]'; \
    fi; \
    cd /; rm -rf /src; \
    selfmod --help >/dev/null; \
    # Native pieces the database layer needs (greenlet needs libstdc++) must load now, not later.
    python3 -c "import greenlet, asyncpg, aiosqlite, cryptography"

USER selfmod:selfmod
WORKDIR /var/lib/selfmod
ENV SELFMOD_DATA_DIR=/var/lib/selfmod/data \
    SELFMOD_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python3", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
CMD ["selfmod", "serve", "--host", "0.0.0.0", "--port", "8080"]
