# One image for the web, worker and beat services of compose.yaml (and any other container platform).
# Front-end packages come from the npm registry in a throwaway Node stage, as `make static` does.
FROM node:20-slim AS vendor
WORKDIR /src
COPY package.json package-lock.json ./
# Keep the copied files in step with the Makefile's static/vendor/.installed target.
RUN npm ci --no-audit --no-fund --loglevel=error \
 && mkdir -p vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js vendor/htmx.min.js \
 && cp node_modules/chart.js/dist/chart.umd.min.js vendor/chart.umd.min.js

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/app/var \
    PORT=8000
WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt
COPY . .
COPY --from=vendor /src/vendor/ static/vendor/
# collectstatic needs settings to load but no database; the throwaway key keeps the development
# fallback from writing a secret_key file into the image.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
 && useradd --create-home --uid 10001 smsportal \
 && mkdir -p /app/var \
 && chown -R smsportal /app/var
USER smsportal
EXPOSE 8000
CMD ["sh", "-c", "exec gunicorn smsportal.wsgi --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY:-2} --worker-class gthread --threads 8 --access-logfile -"]
