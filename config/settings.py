"""AgentCache settings: everything comes from the environment (django-environ).

With nothing set, the service runs on embedded defaults: SQLite, an in-process
cache, a local blob folder and Celery tasks executed eagerly. Production sets
DJANGO_ENV=production plus DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, SECRET_KEY.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# Not a secret: a marker that lets development run with no configuration.
# Production refuses to start with it (below).
DEFAULT_SECRET_KEY = "django-insecure-agentcache-development-only"

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
IS_PRODUCTION = DJANGO_ENV == "production"
DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)
SECRET_KEY = env.str("SECRET_KEY", default=DEFAULT_SECRET_KEY)

if IS_PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when DJANGO_ENV=production.")
if not DEBUG and SECRET_KEY == DEFAULT_SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY in the environment: the default key is for development only.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "tenants",
    "cache_api",
    "dedup",
    "cdn_eval",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data stores -----------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    (BASE_DIR / "var").mkdir(exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # libpq waits forever for an unreachable host by default; /readyz and requests must fail fast instead.
    # A connect_timeout given in DATABASE_URL's query string wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("DB_CONNECT_TIMEOUT", default=3)
    )

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "acdj",
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=1.0),
                "SOCKET_TIMEOUT": env.float("REDIS_SOCKET_TIMEOUT", default=2.0),
                "CONNECTION_POOL_KWARGS": {"max_connections": env.int("REDIS_MAX_CONNECTIONS", default=100)},
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "agentcache"}}

# Local folder for dedup packs (embedded default); S3 is selected by BLOB_BACKEND=s3.
BLOB_BACKEND = env.str("BLOB_BACKEND", default="local")
BLOB_ROOT = Path(env.str("BLOB_ROOT", default=str(BASE_DIR / "var" / "blobs")))
BLOB_S3_ENDPOINT_URL = env.str("BLOB_S3_ENDPOINT_URL", default="")
BLOB_S3_BUCKET = env.str("BLOB_S3_BUCKET", default="")
BLOB_S3_REGION = env.str("BLOB_S3_REGION", default="us-east-1")
BLOB_S3_ACCESS_KEY_ID = env.str("BLOB_S3_ACCESS_KEY_ID", default="")
BLOB_S3_SECRET_ACCESS_KEY = env.str("BLOB_S3_SECRET_ACCESS_KEY", default="")
# Encrypts origin credentials at rest (Fernet key, urlsafe base64 of 32 bytes).
ORIGIN_CREDENTIALS_KEY = env.str("ORIGIN_CREDENTIALS_KEY", default="")

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None) or None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 600
CELERY_TASK_SOFT_TIME_LIMIT = 540
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {}

# --- Email -----------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="AgentCache <no-reply@agentcache.local>")

# --- Auth ------------------------------------------------------------------
AUTH_USER_MODEL = "tenants.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/portal/login/"
# Reverse proxies in front of the app that append to X-Forwarded-For; 0 = use REMOTE_ADDR (the login
# limiter keys on the client address, which behind a proxy is otherwise the proxy's own).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
LOGIN_REDIRECT_URL = "/portal/dashboard/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# collectstatic target in production; development serves from the app folders (finders).
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")) if IS_PRODUCTION else None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve static files from the app directories without collectstatic in development/tests.
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- API -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "config.errors.json_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AgentCache API",
    "DESCRIPTION": "Multi-tenant key/value cache, deduplicated file store and desktop-CDN evaluator.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Security (manage.py check --deploy is clean when DEBUG is off) --------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- cache_api -------------------------------------------------------------
# Embedded default (no REDIS_URL): cache values and usage counters live in this SQLite file.
LOCAL_STORE_PATH = env.str("LOCAL_STORE_PATH", default=str(BASE_DIR / "var" / "localstore.sqlite3"))
# The CACHES alias whose django-redis pool the cache API, its auth cache and the meters use.
CACHE_API_REDIS_ALIAS = env.str("CACHE_API_REDIS_ALIAS", default="default")
# Largest request body the cache API reads (an mset of many values); single values are capped by the plan.
CACHE_API_MAX_BODY_BYTES = env.int("CACHE_API_MAX_BODY_BYTES", default=64 * 1024 * 1024)
# The benchmark's floor view (one Redis GET, JSON out) is routed only when this is on, never in production.
CACHE_API_BENCHMARK_FLOOR = env.bool("CACHE_API_BENCHMARK_FLOOR", default=False) and not IS_PRODUCTION
if REDIS_URL:
    # redis-py's default retries back off for seconds; with Redis down the API must answer 503 at once.
    # One immediate retry still replaces a pooled connection that died with a Redis restart.
    from redis.backoff import NoBackoff  # noqa: E402
    from redis.retry import Retry  # noqa: E402

    CACHES["default"]["OPTIONS"]["CONNECTION_POOL_KWARGS"]["retry"] = Retry(NoBackoff(), 1)

# --- dedup -----------------------------------------------------------------
# Chunks reported present by /api/dedup/missing, or uploaded but not yet in a manifest, survive GC this long.
DEDUP_UPLOAD_GRACE_SECONDS = env.int("DEDUP_UPLOAD_GRACE_SECONDS", default=3600)
# A pack whose live bytes fall under this fraction is rewritten by GC.
DEDUP_REPACK_LIVE_RATIO = env.float("DEDUP_REPACK_LIVE_RATIO", default=0.5)
# Origins on private/loopback addresses (SSRF) are refused in production; dev and tests use local servers.
DEDUP_ORIGIN_ALLOW_PRIVATE = env.bool("DEDUP_ORIGIN_ALLOW_PRIVATE", default=not IS_PRODUCTION)
CELERY_BEAT_SCHEDULE["dedup-gc"] = {"task": "dedup.tasks.collect_garbage", "schedule": 3600.0}
# What each namespace holds per UTC day (StorageDaily); the day's last snapshot is the day's figure.
CELERY_BEAT_SCHEDULE["dedup-storage"] = {"task": "dedup.tasks.snapshot_storage", "schedule": 1800.0}

# --- cdn_eval --------------------------------------------------------------
# Inline logs up to this many records are evaluated in the request; larger ones and uploads become jobs.
CDN_EVAL_SYNC_MAX_RECORDS = env.int("CDN_EVAL_SYNC_MAX_RECORDS", default=100_000)
# Egress price used for savings when a request gives none (USD per GB, decimal).
CDN_EVAL_EGRESS_PRICE_PER_GB = env.float("CDN_EVAL_EGRESS_PRICE_PER_GB", default=0.09)
# Uploaded logs wait here for the worker (same host or a shared volume); removed once the job ran.
CDN_EVAL_UPLOAD_DIR = env.str("CDN_EVAL_UPLOAD_DIR", default=str(BASE_DIR / "var" / "cdn_eval_uploads"))
# A gzip upload may not inflate beyond this.
CDN_EVAL_MAX_DECOMPRESSED_BYTES = env.int("CDN_EVAL_MAX_DECOMPRESSED_BYTES", default=16 * 2**30)

# --- portal ----------------------------------------------------------------
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE["portal-rollup-usage"] = {
    "task": "portal.rollup_usage",
    "schedule": env.float("USAGE_ROLLUP_INTERVAL_SECONDS", default=300.0),
    "options": {"expires": 240},  # a rollup still queued when the next is due is redundant
}
CELERY_BEAT_SCHEDULE["portal-prune-usage-batches"] = {
    "task": "portal.prune_usage_batches",
    "schedule": crontab(hour=3, minute=17),
}
CELERY_BEAT_SCHEDULE["portal-weekly-reports"] = {
    "task": "portal.send_weekly_reports",
    "schedule": crontab(day_of_week="mon", hour=7, minute=0),
}
# Failed logins (portal and POST /api/auth/login) allowed per email and per client address before a pause.
PORTAL_LOGIN_MAX_FAILURES = env.int("PORTAL_LOGIN_MAX_FAILURES", default=5)
PORTAL_LOGIN_LOCKOUT_SECONDS = env.int("PORTAL_LOGIN_LOCKOUT_SECONDS", default=900)
# Links in emails sent outside a request (weekly reports).
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000")
