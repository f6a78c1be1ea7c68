"""Settings for every environment, read from environment variables.

``APP_ENV`` picks the profile (development, production, testing) whose defaults apply
when a variable is not set; ``.env.example`` documents every variable. With no
environment at all the service runs embedded: SQLite, a filesystem Celery broker and a
file cache under ``var/``. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and
Redis without any code path changing.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_float, env_int, env_json_object, env_list, env_str
from config.logging import configure_logging
from reliability.middleware import add_circuit_breaker_middleware

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

APP_ENV = env_choice("APP_ENV", "development", ("development", "production", "testing"))
IS_PRODUCTION = APP_ENV == "production"

DEBUG = env_bool("DEBUG", APP_ENV == "development")

_DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", None if IS_PRODUCTION else _DEV_SECRET_KEY)
if IS_PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when APP_ENV=production")
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured("APP_ENV=production needs SECRET_KEY (or SECRET_KEY_FILE) set to a real secret")
    if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters with at least 5 distinct characters")

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "testserver")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if IS_PRODUCTION else list(LOCAL_HOSTS))
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("APP_ENV=production needs ALLOWED_HOSTS (comma-separated host names)")
# A deployment that forgot APP_ENV=production runs with DEBUG on (tracebacks and settings
# to anyone); a host name that is not local says it is one.
_public_hosts = [
    host for host in ALLOWED_HOSTS if host.lower() not in LOCAL_HOSTS and not host.lower().endswith(".localhost")
]
if DEBUG and _public_hosts:
    raise ImproperlyConfigured(
        f"DEBUG is on but ALLOWED_HOSTS names {', '.join(_public_hosts)}, which is not a local name: "
        "set APP_ENV=production for a deployed service (or DEBUG=false)"
    )
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_celery_beat",
    "django_prometheus",
    "reliability",
    "messaging",
    "health",
]

MIDDLEWARE = [
    "config.request_id.RequestIdMiddleware",
    # Before anything reads the request: a NUL byte would reach a query and end as a 500.
    "config.input_guard.InputGuardMiddleware",
    # While the database refuses writes, a request that would write is a 503 that says why.
    "reliability.degradation.middleware.ReadOnlyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so its process_exception sees a view's error first: a lost store is a 503.
    "config.unavailable.DependencyUnavailableMiddleware",
]
# A breaker per public API prefix, right after the request id (reliability.middleware).
MIDDLEWARE = add_circuit_breaker_middleware(MIDDLEWARE)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# --- Storage -------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
try:
    _database = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
if _database["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; IMMEDIATE makes writers queue
    # on the lock instead of failing with "database is locked" mid-transaction.
    Path(_database["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    _database["CONN_MAX_AGE"] = 0
    _database["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif _database["ENGINE"] == "django.db.backends.postgresql":
    _database["CONN_HEALTH_CHECKS"] = True
    _database.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5, minimum=1)
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
            "KEY_PREFIX": "wa",
        }
    }
else:
    # Shared by the web, worker and beat processes of the embedded default.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery (DESIGN 6a: settings that keep messages) ---------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://localhost//")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30 if CELERY_TASK_TIME_LIMIT > 60 else None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The longest countdown any task schedules; the broker must not redeliver before it.
CELERY_MAX_COUNTDOWN_SECONDS = 3600
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport with short waits, so a worker stops promptly (config.broker).
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # The default 1 s poll handles a few tasks per second; 50 ms keeps the demo snappy.
        "polling_interval": 0.05,
    }
    for _folder in ("queue", "control", "processed"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Redelivery of a lost worker's message waits this long; tests of redelivery shorten it.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 2 * CELERY_MAX_COUNTDOWN_SECONDS, minimum=1),
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        # A publish whose broker is down fails at once instead of retrying the connection
        # for seconds: a webhook must be answered, and the outbox sweeper sends the task
        # later. Workers and beat reconnect by their own settings (broker_connection_*).
        "max_retries": 0,
    }

# --- Dead letter queue (DESIGN 6) ---------------------------------------------------

# Resolved and discarded letters older than this are deleted by the daily cleanup.
DLQ_RETENTION_DAYS = env_int("DLQ_RETENTION_DAYS", 7, minimum=1)
# Replays per second per message type, shared by all workers, so a recovering service is not flooded.
DLQ_REPLAY_RATE_PER_TYPE = env_float("DLQ_REPLAY_RATE_PER_TYPE", 50.0, minimum=0.001)
# /health/dlq warns above these.
DLQ_BACKLOG_WARN = env_int("DLQ_BACKLOG_WARN", 100, minimum=0)
DLQ_OLDEST_AGE_WARN_SECONDS = env_int("DLQ_OLDEST_AGE_WARN_SECONDS", 3600, minimum=0)
# Backoff of transient and unknown failures: base * 2**attempts (jittered), capped.
DLQ_BACKOFF_BASE_SECONDS = env_float("DLQ_BACKOFF_BASE_SECONDS", 30.0, minimum=0.0)
DLQ_BACKOFF_MAX_SECONDS = env_float("DLQ_BACKOFF_MAX_SECONDS", 3600.0, minimum=0.0)
# A replay claim's lease; longer than the task time limit so a live worker never loses it.
DLQ_CLAIM_LEASE_SECONDS = env_int("DLQ_CLAIM_LEASE_SECONDS", CELERY_TASK_TIME_LIMIT + 60, minimum=1)

# --- Reliability report and operator dashboard (DESIGN 10) ---------------------------------

# The hourly reports are kept this long (a yearly review reads a year of them).
RELIABILITY_REPORT_RETENTION_DAYS = env_int("RELIABILITY_REPORT_RETENTION_DAYS", 400, minimum=1)
# The admin's operator dashboard: its charts cover this many hours, and it refreshes this often.
DASHBOARD_CHART_HOURS = env_int("DASHBOARD_CHART_HOURS", 3, minimum=1)
DASHBOARD_REFRESH_SECONDS = env_int("DASHBOARD_REFRESH_SECONDS", 15, minimum=2)

# --- Graceful degradation (DESIGN 7) ------------------------------------------------------

# Condition -> the level it raises the system to; the highest level whose condition holds
# wins. Conditions: breaker_open:NAME, redis_down, database_down, database_read_only,
# health:CHECK (the health check does not pass) and health:CHECK:FIELD!=VALUE (or =VALUE,
# on the check's observed value). Levels: normal, minor, moderate, severe, critical.
DEGRADATION_RULES = env_json_object(
    "DEGRADATION_RULES",
    {
        "breaker_open:deepseek": "minor",
        "breaker_open:green_api": "moderate",
        "health:green_api:stateInstance!=authorized": "moderate",
        "redis_down": "severe",
        "database_down": "critical",
        "database_read_only": "critical",
    },
)
# Feature -> the highest level at which it still runs (reliability.degradation.allows).
DEGRADATION_FEATURES = env_json_object(
    "DEGRADATION_FEATURES",
    {
        "ai_sentiment": "normal",  # from minor on, sentiment comes from the local fallback
        "reports": "minor",
        "auto_replies": "moderate",
        "outbound_sending": "moderate",  # from severe on, outbound messages wait in the outbox
        "webhook_processing": "severe",  # at critical, webhooks are stored, not processed
    },
)
# The level steps up at once, and down only after the rules asked for less this long.
DEGRADATION_STEP_DOWN_SECONDS = env_float(
    "DEGRADATION_STEP_DOWN_SECONDS", {"production": 300.0, "development": 60.0, "testing": 10.0}[APP_ENV], minimum=0.0
)
# Refuse writes (read-only mode) whatever the database says, e.g. during a migration of it.
DEGRADATION_READ_ONLY = env_bool("DEGRADATION_READ_ONLY", False)
# Entries of the per-process cache that stands in for Redis while it is down (redis_fallback).
DEGRADATION_MEMORY_CACHE_ENTRIES = env_int("DEGRADATION_MEMORY_CACHE_ENTRIES", 1000, minimum=1)
# fallback_service.ai_fallback(kind): canned replies, marked degraded; "default" answers unknown kinds.
DEGRADATION_CANNED_REPLIES = env_json_object(
    "DEGRADATION_CANNED_REPLIES",
    {
        "greeting": "Hello! Thank you for your message. We will get back to you shortly.",
        "acknowledgement": "Thank you, we have received your message and will answer as soon as we can.",
        "unavailable": "Sorry, our automatic assistant is not available right now. A person will answer you soon.",
        "default": "Thank you for your message. We will answer as soon as we can.",
    },
)

# --- Reliability profiles (seed: conservative in production, lenient in development,
# minimal retries and short timeouts in testing) -------------------------------------

_BREAKER_PROFILES: dict[str, dict[str, dict[str, float | int]]] = {
    "production": {
        "green_api": {"failure_threshold": 5, "recovery_timeout": 60.0, "timeout": 30.0},
        "deepseek": {"failure_threshold": 3, "recovery_timeout": 120.0, "timeout": 30.0},
        "database": {"failure_threshold": 10, "recovery_timeout": 30.0, "timeout": 10.0},
    },
    "development": {
        "green_api": {"failure_threshold": 5, "recovery_timeout": 20.0, "timeout": 10.0},
        "deepseek": {"failure_threshold": 3, "recovery_timeout": 30.0, "timeout": 10.0},
        "database": {"failure_threshold": 10, "recovery_timeout": 10.0, "timeout": 5.0},
    },
    "testing": {
        "green_api": {"failure_threshold": 5, "recovery_timeout": 1.0, "timeout": 2.0},
        "deepseek": {"failure_threshold": 3, "recovery_timeout": 1.0, "timeout": 2.0},
        "database": {"failure_threshold": 10, "recovery_timeout": 1.0, "timeout": 2.0},
    },
}
# Seed name. Keyword arguments for CircuitBreakerConfig per breaker; admin overrides win.
CIRCUIT_BREAKER_CONFIGS = _BREAKER_PROFILES[APP_ENV]
# The public API's own breakers (reliability.middleware): path prefix -> breaker name.
# A 5xx answer counts as a failure; while open, the prefix answers 503 with Retry-After.
CIRCUIT_BREAKER_PROTECTED_PATHS = {
    "/api/v1/webhooks/": "api_webhooks",
    "/api/v1/messages/": "api_messages",
    "/api/v1/sentiment/": "api_sentiment",
    "/api/v1/triggers/": "api_triggers",
}
for _api_breaker in CIRCUIT_BREAKER_PROTECTED_PATHS.values():
    CIRCUIT_BREAKER_CONFIGS.setdefault(
        _api_breaker, {"failure_threshold": 10, "recovery_timeout": 1.0 if APP_ENV == "testing" else 30.0}
    )

_RETRY_PROFILES: dict[str, dict[str, float | int]] = {
    "production": {"max_retries": 3, "base_delay": 1.0, "max_delay": 30.0},
    "development": {"max_retries": 2, "base_delay": 0.5, "max_delay": 5.0},
    "testing": {"max_retries": 1, "base_delay": 0.01, "max_delay": 0.1},
}
RETRY_DEFAULTS = _RETRY_PROFILES[APP_ENV]
# Where per-service retry budgets live: each process's memory, or one bucket in Redis
# shared by all processes (one extra Redis round trip per call that names a service).
RETRY_BUDGET_STORE = env_choice("RETRY_BUDGET_STORE", "local", ("local", "redis"))
if RETRY_BUDGET_STORE == "redis" and not REDIS_URL:
    raise ImproperlyConfigured("RETRY_BUDGET_STORE=redis needs REDIS_URL")

# --- Messaging: Green API and DeepSeek (DESIGN 8) -------------------------------------

# Outside production, with nothing set, these point at the local stand-ins of `sandbox/`
# that `make run` starts; production has no defaults (system check messaging.E001).
_SANDBOX = not IS_PRODUCTION
GREEN_API_URL = env_str("GREEN_API_URL", "http://127.0.0.1:8100" if _SANDBOX else None)
GREEN_API_ID_INSTANCE = env_str("GREEN_API_ID_INSTANCE", "1101000001" if _SANDBOX else None)
GREEN_API_TOKEN = env_str("GREEN_API_TOKEN", "sandbox-instance-token-0001" if _SANDBOX else None)
# The bearer token Green API sends with every webhook (webhookUrlToken in its settings).
GREEN_API_WEBHOOK_TOKEN = env_str("GREEN_API_WEBHOOK_TOKEN", "sandbox-webhook-token-0001" if _SANDBOX else None)
GREEN_API_CONNECT_TIMEOUT = env_float("GREEN_API_CONNECT_TIMEOUT", 3.05, minimum=0.1)
GREEN_API_READ_TIMEOUT = env_float("GREEN_API_READ_TIMEOUT", 15.0 if IS_PRODUCTION else 5.0, minimum=0.1)
DEEPSEEK_BASE_URL = env_str("DEEPSEEK_BASE_URL", "http://127.0.0.1:8200" if _SANDBOX else "https://api.deepseek.com")
DEEPSEEK_API_KEY = env_str("DEEPSEEK_API_KEY", "sk-sandbox-0000000000000000000000" if _SANDBOX else None)
DEEPSEEK_MODEL = env_str("DEEPSEEK_MODEL", "deepseek-v4-flash")
DEEPSEEK_CONNECT_TIMEOUT = env_float("DEEPSEEK_CONNECT_TIMEOUT", 3.05, minimum=0.1)
# DeepSeek may hold a request for minutes under load; ours gives up far sooner.
DEEPSEEK_READ_TIMEOUT = env_float("DEEPSEEK_READ_TIMEOUT", 20.0 if IS_PRODUCTION else 8.0, minimum=0.1)

# --- Messaging: webhook, pipeline and outbox (DESIGN 8) --------------------------------

# Webhook bodies larger than this are refused with 413 (Green API's events are a few KiB).
GREEN_API_WEBHOOK_MAX_BYTES = env_int("GREEN_API_WEBHOOK_MAX_BYTES", 256 * 1024, minimum=1024)
# Where Green API should POST its webhooks (`manage.py green_api_setup`; --webhook-url wins).
GREEN_API_WEBHOOK_URL = env_str("GREEN_API_WEBHOOK_URL")
# Send attempts of one outbound message before it goes to the dead letter queue.
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 5, minimum=1)
# Backoff between attempts after a definite failure: base * 2**(attempt-1), jittered, capped.
OUTBOX_RETRY_BASE_SECONDS = env_float("OUTBOX_RETRY_BASE_SECONDS", 2.0, minimum=0.0)
OUTBOX_RETRY_MAX_SECONDS = env_float("OUTBOX_RETRY_MAX_SECONDS", 300.0, minimum=0.0)
# The sweeper sends again what sat queued (or unprocessed) this long past its time: the broker lost it.
OUTBOX_REDISPATCH_AFTER_SECONDS = env_int("OUTBOX_REDISPATCH_AFTER_SECONDS", 60, minimum=1)
# A row `sending` for longer than this lost its worker (no live task runs past the time limit):
# the sweeper treats it as unknown and reconciles it.
OUTBOX_SENDING_STALE_SECONDS = env_int("OUTBOX_SENDING_STALE_SECONDS", CELERY_TASK_TIME_LIMIT + 60, minimum=1)
# lastOutgoingMessages can lag this long: a message is surely absent only when older than this.
GREEN_API_JOURNAL_LAG_SECONDS = env_int("GREEN_API_JOURNAL_LAG_SECONDS", 120, minimum=0)
# Rows each sweeper run handles per kind (re-dispatch, reconcile); the rest wait for the next run.
OUTBOX_SWEEP_BATCH = env_int("OUTBOX_SWEEP_BATCH", 500, minimum=1)
if OUTBOX_RETRY_MAX_SECONDS > CELERY_MAX_COUNTDOWN_SECONDS:
    raise ImproperlyConfigured(f"OUTBOX_RETRY_MAX_SECONDS must be at most {CELERY_MAX_COUNTDOWN_SECONDS}")

# --- Health --------------------------------------------------------------------------

HEALTH_CHECK_TIMEOUT = env_float("HEALTH_CHECK_TIMEOUT", 2.0, minimum=0.1)
HEALTH_CACHE_SECONDS = env_int("HEALTH_CACHE_SECONDS", 30, minimum=0)
# Readiness must notice a lost dependency within seconds, so its (cheap) checks are
# cached only briefly; the full report above keeps the 30 s cache.
HEALTH_READY_CACHE_SECONDS = env_int("HEALTH_READY_CACHE_SECONDS", 1, minimum=0)
# Bearer token for /health/detailed and /metrics from monitoring systems.
HEALTH_TOKEN = env_str("HEALTH_TOKEN")
METRICS_TOKEN = env_str("METRICS_TOKEN", HEALTH_TOKEN)
# Each Celery worker writes a heartbeat row this often; it counts in celery_workers_alive
# while its last one is younger than four intervals.
WORKER_HEARTBEAT_SECONDS = env_float("WORKER_HEARTBEAT_SECONDS", 15.0, minimum=1.0)

# --- Web, API, security --------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # The project's errors become 404/409/400 answers here, not in each view.
    "EXCEPTION_HANDLER": "config.api.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "WhatsApp reliability service",
    "DESCRIPTION": "Green API webhooks, sentiment, triggers and the reliability layer's ops API.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema maps every ops endpoint: staff, or API clients with their token.
    "SERVE_PERMISSIONS": ["reliability.api.permissions.IsStaffOrApiToken"],
    "ENUM_NAME_OVERRIDES": {
        "BreakerStateEnum": "reliability.breaker.models.BreakerState.values",
        "DeadLetterStatusEnum": "reliability.dlq.models.DeadLetterStatus.values",
        "DegradationLevelEnum": "reliability.degradation.levels.LEVEL_NAMES",
        "DegradationSourceEnum": "reliability.degradation.levels.DegradationSource.values",
        "SentimentLabelEnum": "messaging.models.SentimentLabel.values",
    },
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", IS_PRODUCTION) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", IS_PRODUCTION)
# Probes come over plain HTTP from the orchestrator, and Prometheus scrapes pods the same
# way (/metrics still needs its token).
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
SESSION_COOKIE_SECURE = IS_PRODUCTION
CSRF_COOKIE_SECURE = IS_PRODUCTION
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if IS_PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = IS_PRODUCTION
SECURE_HSTS_PRELOAD = IS_PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# --- Logging -------------------------------------------------------------------------

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOG_FORMAT = env_choice("LOG_FORMAT", "json" if IS_PRODUCTION else "console", ("json", "console"))
LOGGING_CONFIG = None
configure_logging(json_output=LOG_FORMAT == "json", level=LOG_LEVEL)
