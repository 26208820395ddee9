# PartnerHub: one image, one command (`partnerhub serve`); docs/deployment.md.
#   docker build -t partnerhub .
#   docker run -p 8000:8000 -v partnerhub-data:/data -e PARTNERHUB_PUBLIC_URL=https://hub.example.com partnerhub
# Without PARTNERHUB_DATABASE_URL the embedded PostgreSQL runs inside the container, as the
# same non-root user, with its data in the /data volume.

FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv /opt/partnerhub \
    && /opt/partnerhub/bin/pip install --upgrade pip \
    && /opt/partnerhub/bin/pip install .

FROM python:3.12-slim
# xmlsec1: partner SAML single sign-on (pysaml2) signs and verifies with it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends xmlsec1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 partnerhub \
    && useradd --system --uid 10001 --gid partnerhub --create-home --home-dir /home/partnerhub partnerhub \
    && mkdir -p /data \
    && chown partnerhub:partnerhub /data
COPY --from=build /opt/partnerhub /opt/partnerhub
ENV PATH=/opt/partnerhub/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    XDG_RUNTIME_DIR=/tmp/partnerhub-runtime \
    PARTNERHUB_DATA_DIR=/data \
    PARTNERHUB_HOST=0.0.0.0 \
    PARTNERHUB_PORT=8000
USER partnerhub
WORKDIR /home/partnerhub
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
ENTRYPOINT ["partnerhub"]
CMD ["serve"]
