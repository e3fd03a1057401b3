# syntax=docker/dockerfile:1
# podman and buildah: build with `--format docker`, or the HEALTHCHECK is dropped.

# Both stages start from this image; point it at a mirror with --build-arg PYTHON_IMAGE=...
ARG PYTHON_IMAGE=python:3.11-slim

# Build stage: cdcsink and its dependencies installed into a virtualenv, its hot path
# compiled. Compilers, downloads and the source tree stay in this stage; the runtime stage copies the
# virtualenv alone, so no wheel or pip cache ships in any layer of the image.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv --without-pip /opt/cdcsink
WORKDIR /src
# The dependencies first: this layer is reused until pyproject.toml changes. Every
# one of them is fetched from the package index (the virtualenv starts empty), so an
# unreachable index fails the build here instead of leaving a warning in a cached layer.
# With the extras the image's users reach for: kafka-client=confluent (librdkafka, bundled
# in its wheels) and the postgres source (psycopg2).
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print(*p['dependencies'], *p['optional-dependencies']['confluent'], *p['optional-dependencies']['postgres'], sep='\n')" \
        > requirements.txt \
    && pip --python /opt/cdcsink/bin/python install --requirement requirements.txt
# The compiled hot path: a C compiler, and Python's headers where the base image lacks
# them (Debian's python3 does; python:3.11-slim has its own). In this stage only.
RUN python -c "import os, sysconfig; print(sysconfig.get_paths()['include'] + '/Python.h')" > python-h.txt \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev \
        $(test -f "$(cat python-h.txt)" || echo python3-dev) >/dev/null \
    && rm -rf /var/lib/apt/lists/* \
    && test -f "$(cat python-h.txt)"
COPY README.md setup.py ./
COPY cdcsink ./cdcsink
# Every C file must compile here (CDCSINK_REQUIRE_EXTENSIONS): the image runs the compiled hot path.
RUN CDCSINK_REQUIRE_EXTENSIONS=1 pip --python /opt/cdcsink/bin/python install --no-deps .

# Runtime stage: the virtualenv and a non-root user.
FROM ${PYTHON_IMAGE}
# uid 10001 and gid 10001, as deploy/kubernetes/statefulset.yaml runs the pod
# (runAsUser, runAsGroup, fsGroup). The home is an empty directory of its own, so
# nothing but the checkpoint lands in the state volume.
RUN groupadd --system --gid 10001 cdcsink \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /home/cdcsink \
        --shell /usr/sbin/nologin cdcsink \
    && install --directory --owner 10001 --group 10001 /home/cdcsink /var/lib/cdcsink /etc/cdcsink
COPY --from=build /opt/cdcsink /opt/cdcsink
ENV PATH=/opt/cdcsink/bin:$PATH \
    CDCSINK_CHECKPOINT__STORE=file:///var/lib/cdcsink/checkpoint.json \
    CDCSINK_LOG__FORMAT=json
USER 10001:10001
WORKDIR /var/lib/cdcsink
VOLUME ["/var/lib/cdcsink"]
EXPOSE 9108
# /healthz on the port CDCSINK_HTTP__PORT names (9108 unless set).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CDCSINK_HTTP__PORT', '9108'), timeout=4)"]
ENTRYPOINT ["cdcsink"]
CMD ["run"]
