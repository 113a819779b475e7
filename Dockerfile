# edgewise's one image: the API (`python -m api`, the default), the worker (`python worker.py`), the CLI
# (`edgewise …`) and the LinkedIn sandbox (`python -m linkedin.sandbox`). Used by docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    EDGEWISE_DATA_DIR=/data

WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin edgewise \
    && mkdir -p /data \
    && chown edgewise /data

# Dependencies first, from pyproject.toml alone, so code changes reuse this layer.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-deps . \
    && python -c "import api, workflows, activities, linkedin, db, edgewise, worker"

USER edgewise
# 8000: the API; 9464: the worker's Prometheus metrics (WORKER_METRICS_PORT).
EXPOSE 8000 9464
# Python runs as PID 1 and handles SIGTERM itself: uvicorn drains requests, worker.py drains activities.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "api"]
