"""Server settings in one pydantic-settings class (environment prefix ``CLINIC_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.gc_tuning import YOUNG_THRESHOLD

DEFAULT_DB_PATH = Path("var") / "clinic.db"


def sqlite_url(path: Path | str) -> str:
    return f"sqlite:///{Path(path).resolve()}"


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLINIC_", extra="ignore")

    database_url: str = sqlite_url(DEFAULT_DB_PATH)
    token_ttl_hours: float = 12.0
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    # A one-time setup code (a new account's, or after a password reset) works this long, once.
    setup_code_hours: float = 72.0
    # Failed logins from one source address within this many minutes block it for as long (any
    # account; a clinic PC's staff rarely fail more than a few times an hour).
    login_source_failures: int = 30
    login_source_minutes: int = 15
    timezone: str = "Asia/Shanghai"
    max_body_bytes: int = 8 * 1024 * 1024
    # How often one background task per process looks for changes made by other server processes.
    longpoll_poll_seconds: float = 0.25
    # After a long-poll wakes, wait this long before answering so a burst of writes goes out as one page
    # instead of waking every waiting PC once per write.
    longpoll_batch_seconds: float = 0.2
    # A long-poll from the same token is answered at most this often: a PC that gets changes and asks
    # again at once is held until this long after its previous answer (no thread or connection held),
    # so hundreds of PCs polling a busy feed get one page a second each instead of a page per write.
    # A queue ticket or notice change (a call, a check-in) ends the hold at once.
    longpoll_min_interval_seconds: float = 1.0
    # Recently checked tokens are trusted this long (logout in the same process forgets at once; other
    # processes and a deactivated account take up to this long).
    token_cache_seconds: float = 30.0
    # Newest feed changes kept encoded in memory per process; pulls near the head need no database read.
    feed_tail_entries: int = 20000
    # Most mutations applied in one group-commit transaction.
    group_commit_max: int = 1000
    sqlite_busy_ms: int = 15000
    # Python's GIL switch interval in this process (default 5 ms). The writer thread releases the GIL
    # at every database call and must win it back from the event loop; a short interval keeps a busy
    # loop from adding milliseconds to every statement of every push (see benchmarks/RESULTS.md).
    gil_switch_interval_ms: float = 0.5
    # Allocations between two collections of young objects (Python's default 700); fewer collections,
    # fewer pauses (see shared.gc_tuning and benchmarks/RESULTS.md).
    gc_young_threshold: int = YOUNG_THRESHOLD
    # Patients sent by pulls are written to the audit chain per device this often (``patient_reads``).
    patient_audit_flush_seconds: float = 30.0
    db_pool_size: int = 20
    db_max_overflow: int = 20


@lru_cache
def get_settings() -> ServerSettings:
    return ServerSettings()
