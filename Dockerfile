# Liveclass for the deployment that outgrows one process (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LIVECLASS_DATA_DIR=/var/lib/liveclass \
    LIVECLASS_LOG_FORMAT=json

RUN useradd --system --create-home --home-dir /var/lib/liveclass liveclass
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY eventbus ./eventbus
COPY scheduling ./scheduling
COPY signaling ./signaling
COPY sfu ./sfu
COPY sessions ./sessions
COPY notifications ./notifications
COPY ai_docs ./ai_docs
COPY api ./api
RUN pip install .

USER liveclass
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["liveclass", "serve", "--host", "0.0.0.0", "--port", "8000"]
