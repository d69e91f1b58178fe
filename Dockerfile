# Built from pyproject.toml and constraints.txt, like the Makefile's virtualenv. Two targets:
#   app (the default): both services and the admin CLI; the command picks the process.
#   coolnotes: the same, plus the `demo` extra (Authlib) and the demo client examples/coolnotes.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, pinned by the same constraints file the Makefile uses.
COPY pyproject.toml constraints.txt README.md ./
COPY shared/__init__.py shared/__init__.py
COPY auth_service/__init__.py auth_service/__init__.py
COPY resource_service/__init__.py resource_service/__init__.py
RUN pip install -c constraints.txt .

COPY shared shared
COPY auth_service auth_service
COPY resource_service resource_service
COPY alembic.ini ./
# /var/lib/myauth/demo: where `auth-service demo seed` leaves CoolNotesApp's credentials (compose
# mounts a volume there); created here so the volume belongs to the unprivileged user.
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home /app myauth \
    && mkdir -p /var/lib/myauth/keys /var/lib/myauth/demo \
    && chown -R myauth /var/lib/myauth \
    && chmod 700 /var/lib/myauth/keys /var/lib/myauth/demo

USER myauth
EXPOSE 8000 8001
# No secret is baked in: every setting comes from the environment at run time.
CMD ["auth-service", "serve"]


FROM base AS coolnotes
USER root
RUN pip install -c constraints.txt '.[demo]'
COPY examples/coolnotes examples/coolnotes
USER myauth
EXPOSE 8002
# No access log: the callback URL carries the authorization code and state.
CMD ["uvicorn", "coolnotes.app:create_app", "--factory", "--app-dir", "examples/coolnotes", \
     "--host", "0.0.0.0", "--port", "8002", "--no-access-log"]


# Last, so a plain `docker build .` makes the services' image.
FROM base AS app
