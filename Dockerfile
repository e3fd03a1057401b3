# syntax=docker/dockerfile:1
# Build stage: wheels for cdcsink and its dependencies (compilers stay here).
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip wheel
COPY pyproject.toml README.md ./
COPY cdcsink ./cdcsink
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Runtime stage: the wheels only, a non-root user.
FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/cdcsink --create-home cdcsink \
    && mkdir -p /etc/cdcsink && chown cdcsink /etc/cdcsink
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER cdcsink
WORKDIR /var/lib/cdcsink
ENV CDCSINK_CHECKPOINT__STORE=file:///var/lib/cdcsink/checkpoint.json \
    CDCSINK_LOG__FORMAT=json
VOLUME ["/var/lib/cdcsink"]
EXPOSE 9108
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]
ENTRYPOINT ["cdcsink"]
CMD ["run"]
