# The sidecar image: the Event API (and the webhook and delivery endpoints) under gunicorn.
#   docker build -t sidecar .                        (plan: examples/shop/plan.yaml)
#   docker build --build-arg PLAN=path/to/plan.yaml -t sidecar .
# Secrets are never baked in: Cloud Run injects the variables the plan names (docs/sidecar.md).
# It listens on 0.0.0.0 (Cloud Run's contract) and trusts no X-Forwarded-For entry: the
# deployment says how many proxies append to it (SGTM_TRUSTED_PROXIES: 1 behind Cloud Run's
# front end, 2 behind the load balancer; terraform/ sets it). Run without a proxy, a client
# could otherwise choose the address its rate limit and stored IP are counted under.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
# Only the service: the core package and the sidecar, with the service's extras.
COPY formats ./formats
COPY sidecar ./sidecar
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt ".[sidecar,gcp]"

FROM python:3.11-slim
ARG PLAN=examples/shop/plan.yaml
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8080 \
    WORKERS=1 \
    THREADS=8 \
    TIMEOUT=30 \
    SGTM_PLAN=/app/plan.yaml \
    SGTM_OUTBOX=/data/sgtm-outbox.sqlite \
    HOST=0.0.0.0 \
    SGTM_TRUSTED_PROXIES=0
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin sgtm \
    && mkdir -p /app /data \
    && chown sgtm /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels "sgtm-companion[sidecar,gcp]" \
    && rm -rf /wheels
COPY ${PLAN} /app/plan.yaml
USER 10001
WORKDIR /app
EXPOSE 8080
# gunicorn handles SIGTERM (Cloud Run's stop signal) as a graceful shutdown.
CMD ["gunicorn", "-c", "python:sidecar.gunicorn_conf"]
