"""smsportal settings: everything comes from the environment (see .env.example)."""

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

SMSPORTAL_ENV = env.str("SMSPORTAL_ENV", default="development")
PRODUCTION = SMSPORTAL_ENV == "production"
DEBUG = env.bool("DEBUG", default=False)
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _development_secret_key() -> str:
    # Generated once per data directory so sessions survive restarts and no key lives in the repo.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="")
if PRODUCTION:
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when SMSPORTAL_ENV=production")
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when SMSPORTAL_ENV=production")
elif not SECRET_KEY:
    SECRET_KEY = _development_secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public base URL, used where a full URL must be shown or signed: gateways' webhook URLs and Twilio's signatures.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/") or f"http://127.0.0.1:{env.int('PORT', default=8000)}"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "smsportal.accounts",
    "contacts",
    "smsportal.messaging",
    "campaigns",
    "inbox",
    "reports",
    "smsportal.api",
]

MIDDLEWARE = [
    "smsportal.messaging.webhooks.GatewayWebhookMiddleware",  # webhooks answer before the rest of the stack
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "smsportal.urls"
WSGI_APPLICATION = "smsportal.wsgi.application"
ASGI_APPLICATION = "smsportal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "smsportal.accounts.context_processors.workspace",
                "inbox.context_processors.inbox",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'smsportal.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the web, worker and scheduler processes read while one writes; IMMEDIATE takes
            # the write lock at BEGIN so concurrent writers queue instead of failing with "locked".
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
else:
    # Persistent connections pay off in production; elsewhere they outlive test servers' threads.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60 if PRODUCTION else 0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # PostgreSQL's JIT compiles any plan its costs call big: ~250 ms spent to save ~10 on the inbox's or the
    # dashboard's queries. A DATABASE_URL with its own ?options= keeps them.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
# A file, not SQLite's in-memory default, so live-server tests get real per-thread connections as in production.
_default_test_db = str(DATA_DIR / "test-smsportal.sqlite3") if "sqlite" in DATABASES["default"]["ENGINE"] else None
DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME", default=_default_test_db)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Broker, cache, rate limits -------------------------------------------------------------------
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),  # Kombu's default is relative to the working directory
        "store_processed": False,
        # How often an idle worker looks for tasks (Kombu's default is 1 s): an inbound text should reach an open
        # inbox within two seconds, and listing a folder five times a second costs nothing.
        "polling_interval": 0.2,
    }
    # The filesystem transport has no fanout: remote control (ping/inspect) is unavailable there.
    CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"

_default_redis = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
REDIS_URL = env.str("REDIS_URL", default=_default_redis)
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # Shared by the web, worker and scheduler processes of one embedded instance.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "smsportal_cache"}}
CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="smsportal")

API_DEFAULT_RATE_LIMIT = env.int("API_DEFAULT_RATE_LIMIT", default=15)
API_KEY_FAILURE_LIMIT = env.int("API_KEY_FAILURE_LIMIT", default=30)  # wrong keys per address per 10 minutes

# --- The SMS engine ---------------------------------------------------------------------------------
SMS_GATEWAYS = [
    "smsportal.messaging.gateways.sandbox.SandboxGateway",
    "smsportal.messaging.gateways.twilio.TwilioGateway",
    "smsportal.messaging.gateways.clicksend.ClickSendGateway",
    "smsportal.messaging.gateways.http.HttpGateway",
]
SANDBOX_DLR_DELAY = env.float("SANDBOX_DLR_DELAY", default=2.0)  # seconds before the sandbox reports delivery
SMS_MAX_ATTEMPTS = env.int("SMS_MAX_ATTEMPTS", default=5)  # submissions before a temporary error becomes `failed`
SMS_RETRY_BASE = env.float("SMS_RETRY_BASE", default=2.0)  # seconds; backoff is base × 2^(attempt-1), with jitter
SMS_RETRY_MAX = env.float("SMS_RETRY_MAX", default=300.0)
# A claim on messages being submitted; past it, a sweep treats the batch as interrupted (its worker died).
SMS_SENDING_LEASE = env.float("SMS_SENDING_LEASE", default=300.0)
SMS_DISPATCH_BATCH = env.int("SMS_DISPATCH_BATCH", default=500)  # messages claimed per dispatch task
# The engine's hot-path statements are prepared on PostgreSQL. Turn off behind a transaction-pooling PgBouncer
# older than 1.21, which cannot keep prepared statements.
SMS_PREPARED_STATEMENTS = env.bool("SMS_PREPARED_STATEMENTS", default=True)
# Who takes inbound SMS from the gateways' webhooks (a dotted path to a callable(connection=, messages=)).
SMS_INBOUND_HANDLER = env.str("SMS_INBOUND_HANDLER", default="inbox.services.inbound_receive")
# Temporary failures in a row after which routing skips a connection, and for how long.
GATEWAY_FAILOVER_THRESHOLD = env.int("GATEWAY_FAILOVER_THRESHOLD", default=5)
GATEWAY_FAILOVER_COOLDOWN = env.float("GATEWAY_FAILOVER_COOLDOWN", default=60.0)
# Outbound webhooks may go to private, loopback and link-local addresses (never in a shared deployment: a
# workspace could make the workers call the operator's own network).
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
CONTACT_IMPORT_URL_HOSTS = env.list("CONTACT_IMPORT_URL_HOSTS", default=[])  # hosts /v3 imports may fetch a file_url from

# --- Auth and sessions -----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Each instance on one host gets its own cookie names so two instances side by side do not log each other out.
SESSION_COOKIE_NAME = env.str("SESSION_COOKIE_NAME", default="smsportal_session")
CSRF_COOKIE_NAME = env.str("CSRF_COOKIE_NAME", default="smsportal_csrftoken")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", default=False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS only once there is HTTPS to send people to: production behind its TLS proxy (plain-http trials of the
# compose file, and localhost, keep working). /healthz stays reachable over http for load balancers.
_HTTPS = PRODUCTION and BEHIND_TLS_PROXY
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if _HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    # Joining browsers' preload list is the operator's decision (hstspreload.org), not a default.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- i18n / static --------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- REST API -------------------------------------------------------------------------------------
# Largest request body read into memory (uploaded files stream to disk and have their own 200 MB limit). Sized for
# the largest valid /v3/sms/send: 1000 messages of 1600 characters as ClickSend's SDK writes them (JSON \u escapes:
# 6 bytes a character, 12 outside the BMP), about 19 MB; Django's 2.5 MB default refuses 1000 Cyrillic texts.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=20 * 1024 * 1024)

# Gateways' webhooks are unauthenticated until verified, so their bodies get a tighter bound: one report or reply
# is under 2 KB; 1 MiB still takes a JSON gateway's batch of about 20,000 delivery reports.
WEBHOOK_MAX_BODY = env.int("WEBHOOK_MAX_BODY", default=1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "smsportal.api.authentication.ApiKeyBasicAuthentication",
        "smsportal.api.authentication.ApiKeyBearerAuthentication",
        "smsportal.api.authentication.WorkspaceSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["smsportal.api.permissions.HasCapability"],
    "DEFAULT_THROTTLE_CLASSES": ["smsportal.api.throttling.AccountRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "smsportal.api.pagination.ClickSendPagination",
    "DEFAULT_RENDERER_CLASSES": ["smsportal.api.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "smsportal.api.exceptions.envelope_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "smsportal.api.schema.ClickSendAutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "smsportal /v3 API",
    "DESCRIPTION": "Wire-compatible with ClickSend's v3 SMS API. Every response is wrapped in the envelope "
    '{"http_code", "response_code", "response_msg", "data"}.',
    "VERSION": "3.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from our own static files: a self-hosted portal must not depend on a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["smsportal.api.schema.strip_optional_trailing_slash"],
    # What goes on the wire: the envelope around every answer, and the errors any endpoint can give.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "smsportal.api.schema.envelope_responses",
    ],
}

# --- Logging --------------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
