"""Configuration from the environment (pydantic-settings). Every variable is documented in the README."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SafetyProfile = Literal["standard", "test", "unlimited"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    # Where mutable local state lives (SQLite file, sandbox state, dev key, Temporal dev DB).
    data_dir: Path = Field(default=Path(".data"), alias="EDGEWISE_DATA_DIR")
    # Empty → SQLite at {data_dir}/edgewise.db (the embedded default).
    database_url: str = Field(default="", alias="DATABASE_URL")

    temporal_address: str = Field(default="127.0.0.1:7233", alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", alias="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field(default="edgewise", alias="TEMPORAL_TASK_QUEUE")
    # Temporal Cloud (or any cluster behind TLS): an API key, and/or mTLS with a client certificate and key
    # (PEM file paths); a CA bundle for a private CA. Any of them switches TLS on (edgewise/temporal.py).
    temporal_api_key: SecretStr = Field(default=SecretStr(""), alias="TEMPORAL_API_KEY")
    temporal_tls: bool = Field(default=False, alias="TEMPORAL_TLS")
    temporal_tls_cert: str = Field(default="", alias="TEMPORAL_TLS_CERT")
    temporal_tls_key: str = Field(default="", alias="TEMPORAL_TLS_KEY")
    temporal_tls_ca: str = Field(default="", alias="TEMPORAL_TLS_CA")
    temporal_tls_server_name: str = Field(default="", alias="TEMPORAL_TLS_SERVER_NAME")

    # The worker process (worker.py): how much it runs at once, how long SIGTERM lets running activities
    # finish before they are cancelled (and retried elsewhere), and its Prometheus port (0 = none).
    worker_max_concurrent_activities: int = Field(default=200, ge=1, alias="WORKER_MAX_CONCURRENT_ACTIVITIES")
    worker_max_concurrent_workflow_tasks: int = Field(
        default=100, ge=2, alias="WORKER_MAX_CONCURRENT_WORKFLOW_TASKS"
    )
    worker_shutdown_grace_seconds: float = Field(default=30.0, ge=0, alias="WORKER_SHUTDOWN_GRACE_SECONDS")
    worker_metrics_port: int = Field(default=0, ge=0, le=65535, alias="WORKER_METRICS_PORT")
    worker_metrics_host: str = Field(default="127.0.0.1", alias="WORKER_METRICS_HOST")

    api_host: str = Field(default="127.0.0.1", alias="API_HOST")
    api_port: int = Field(default=8000, alias="API_PORT")
    # SIGTERM: the API stops accepting connections and lets requests in flight finish for up to this long.
    api_shutdown_grace_seconds: float = Field(default=30.0, ge=0, alias="API_SHUTDOWN_GRACE_SECONDS")
    # Public base URL of the API, used to build X-Pagination-Next links and to refuse callbacks to ourselves.
    public_base_url: str = Field(default="", alias="PUBLIC_BASE_URL")

    linkedin_base_url: str = Field(default="http://127.0.0.1:8100", alias="LINKEDIN_BASE_URL")
    sandbox_port: int = Field(default=8100, alias="SANDBOX_PORT")
    temporal_ui_port: int = Field(default=8233, alias="TEMPORAL_UI_PORT")
    temporal_port: int = Field(default=7233, alias="TEMPORAL_PORT")

    # 32-byte keys, base64 (urlsafe or standard). Empty → a key is generated once under data_dir.
    encryption_key: str = Field(default="", alias="EDGEWISE_ENCRYPTION_KEY")
    # Temporal payload encryption (edgewise/codec.py): 32-byte keys, base64, comma-separated, newest first.
    # Empty → keys derived from EDGEWISE_ENCRYPTION_KEY (or the generated key), so one secret suffices.
    payload_encryption_keys: SecretStr = Field(default=SecretStr(""), alias="PAYLOAD_ENCRYPTION_KEYS")
    # The codec endpoint the Temporal UI calls (api/routes/codec.py): a bearer token it must present, whether
    # loopback clients may call it without one (`make dev` sets this), and the UI origins allowed by CORS
    # (comma-separated; empty → the dev server's UI on TEMPORAL_UI_PORT).
    codec_auth_token: SecretStr = Field(default=SecretStr(""), alias="CODEC_AUTH_TOKEN")
    codec_allow_loopback: bool = Field(default=False, alias="CODEC_ALLOW_LOOPBACK")
    codec_cors_origins: str = Field(default="", alias="CODEC_CORS_ORIGINS")

    safety_profile: SafetyProfile = Field(default="standard", alias="EDGEWISE_SAFETY_PROFILE")
    allow_private_targets: bool = Field(default=False, alias="ALLOW_PRIVATE_TARGETS")
    egress_required: bool = Field(default=False, alias="EGRESS_REQUIRED")
    # The operator's egress proxies (edgewise/egress.py): a JSON list `[{"id", "url", "country"}]` inline
    # and/or in a file; both are merged. Proxy URLs may carry credentials: a secret, never logged or returned.
    egress_proxies: SecretStr = Field(default=SecretStr(""), alias="EGRESS_PROXIES")
    egress_proxies_file: str = Field(default="", alias="EGRESS_PROXIES_FILE")

    # The managed pool (API.md §4, `identity_mode: "managed"`; edgewise/managed.py): platform-owned LinkedIn
    # accounts, as a JSON list `[{"name", "cookies": {"li_at", "JSESSIONID", "li_a"?}, "user_agent"?}]` in a
    # file and/or inline (secret: never logged). The API provisions them on start. All unset: the pool is
    # left as it is; `MANAGED_POOL=[]` empties it. MANAGED_POOL_SANDBOX_ACCOUNTS=N adds N sandbox accounts
    # (only when LINKEDIN_BASE_URL answers as a sandbox).
    managed_pool_file: str = Field(default="", alias="MANAGED_POOL_FILE")
    managed_pool: SecretStr = Field(default=SecretStr(""), alias="MANAGED_POOL")
    managed_pool_sandbox_accounts: int = Field(default=0, ge=0, alias="MANAGED_POOL_SANDBOX_ACCOUNTS")

    # Seconds a live call waits for its result before answering 202 with the Run.
    live_timeout_seconds: float = Field(default=60.0, alias="LIVE_TIMEOUT_SECONDS")
    # Seconds a live call waits for its LinkedIn account before 429 ACCOUNT_BUSY.
    account_busy_timeout_seconds: float = Field(default=30.0, alias="ACCOUNT_BUSY_TIMEOUT_SECONDS")
    # Inputs one activity processes per batch, and per-run concurrent account lanes.
    run_batch_size: int = Field(default=50, alias="RUN_BATCH_SIZE")
    run_max_lanes: int = Field(default=20, alias="RUN_MAX_LANES")
    # Timeout of one LinkedIn HTTP request (seconds).
    linkedin_timeout_seconds: float = Field(default=20.0, alias="LINKEDIN_TIMEOUT_SECONDS")
    # Schedules (API.md §6): how late a firing Temporal could not start on time (its server was down) may
    # still start; with overlap SKIP at most one missed firing runs after an outage. Temporal's minimum: 10 s.
    schedule_catchup_window_seconds: float = Field(
        default=600.0, ge=10, alias="SCHEDULE_CATCHUP_WINDOW_SECONDS"
    )
    # Session health (workflows/health_check.py): each account's workflow probes its session this often
    # (0 = never), ± this fraction of it at random, so that an idle account's expiry is found too.
    health_check_interval_seconds: float = Field(default=14400.0, ge=0, alias="HEALTH_CHECK_INTERVAL_SECONDS")
    health_check_jitter: float = Field(default=0.25, ge=0, le=1, alias="HEALTH_CHECK_JITTER")

    # Webhook events and run callbacks (API.md §3 Deliveries): seconds between attempts (the last value
    # repeats), the window after the first attempt beyond which a delivery is FAILED, and the answer timeout.
    delivery_retry_schedule: list[float] = Field(
        default=[5, 30, 120, 600, 1800, 3600, 7200], alias="DELIVERY_RETRY_SCHEDULE"
    )
    delivery_max_age_seconds: float = Field(default=86400.0, alias="DELIVERY_MAX_AGE_SECONDS")
    delivery_timeout_seconds: float = Field(default=10.0, alias="DELIVERY_TIMEOUT_SECONDS")

    # API rate limits per workspace (API.md §1; api/ratelimit.py): token buckets counted in the database, so
    # every API replica shares them. Tokens per second and burst (bucket size); 0 in either disables the
    # bucket. Live runs have their own bucket; `RATE_LIMIT_*` covers every other authenticated /v1 request.
    rate_limit_live_per_second: float = Field(default=20.0, ge=0, alias="RATE_LIMIT_LIVE_PER_SECOND")
    rate_limit_live_burst: int = Field(default=100, ge=0, alias="RATE_LIMIT_LIVE_BURST")
    rate_limit_per_second: float = Field(default=60.0, ge=0, alias="RATE_LIMIT_PER_SECOND")
    rate_limit_burst: int = Field(default=200, ge=0, alias="RATE_LIMIT_BURST")

    log_level: str = Field(default="INFO", alias="LOG_LEVEL")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'edgewise.db').resolve()}"

    @property
    def live_task_queue(self) -> str:
        """Live runs' workflows: served by a small worker inside each API process (eager start) and by
        the workers, so a live call costs one local round trip yet never depends on one API process."""
        return f"{self.temporal_task_queue}-live"

    @property
    def codec_origins(self) -> list[str]:
        """Origins whose pages may call the codec endpoint (the Temporal UI's)."""
        listed = [item.strip().rstrip("/") for item in self.codec_cors_origins.split(",") if item.strip()]
        port = self.temporal_ui_port
        return listed or [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]

    @property
    def api_base_url(self) -> str:
        return self.public_base_url.rstrip("/") or f"http://{self.api_host}:{self.api_port}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
