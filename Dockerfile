# The crmsync operator image: slim, non-root, the operator installed from this repo.
# Only the operator (operator/, the crmsync-operator distribution) goes in: the local test
# bed (testbed/: vendor servers, fake data, control plane) stays out. Its dependencies are
# installed from requirements.lock (exact versions with sha256 hashes; `bash hack/lock.sh`
# regenerates it, and requirements-build.lock, the pinned build backend), so two builds
# from one commit install the same versions.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements-build.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home crmsync
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels
USER 10001
EXPOSE 8080 8443 9090
ENTRYPOINT ["crmsync"]
CMD ["run", "--all-namespaces"]
