"""``SyncEngine``: pushes the outbox, pulls the feed (long-poll), bootstraps, and reports its state.

Threading: ``run(stop_event)`` is a blocking loop for one worker thread; it long-polls on a helper
thread so that ``wake()`` (thread-safe) pushes at once while a poll is waiting. ``sync_once`` does one
full exchange on the calling thread (tests, tools). Callbacks (``on_status``, ``on_changes``) are
called on the engine's threads; GUI code must hand them to its own thread (``shared.gui`` does).

Nothing here ever drops the outbox: a rejection is stored and shown as "needs attention"; a transient
error leaves the mutation for the next try; a 410 pushes the outbox first and only then re-bootstraps.

Online means an exchange went through: nothing else says so. While the server is out of reach the loop
probes ``GET /healthz`` every ``probe_interval`` (jittered, never growing); a server that answers with
errors gets exponential backoff. ``wake()`` ("sync now") cuts any wait short.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from shared.domain.entities import Staff
from shared.domain.masking import restricted_kinds
from shared.errors import AuthFailed, SuiteError, TransientError
from shared.i18n import DEFAULT_LANGUAGE, tr
from shared.protocol.models import (
    Change,
    HubInfo,
    LoginResponse,
    MutationEnvelope,
    MutationOutcome,
    PullResponse,
)
from shared.store.store import LanPage, LocalStore, OutboxEntry
from shared.store.wipe import WIPE_CODE, wipe_local_data
from shared.sync import messages  # noqa: F401  (registers the sync messages)
from shared.sync.status import CLOCK_WARNING_SECONDS, SyncState, SyncStatus
from shared.sync.tokens import KeyringUnavailable, TokenStore
from shared.sync.transport import ApiTransport, CursorReset, PayloadTooLarge, ProtocolError, SequenceMismatch

log = logging.getLogger(__name__)

# where a PC keeps the ticket-number slot the server gave it at its last online login
# (``shared.domain.queue_numbers``): {"campus_id", "slot" (None: none free), "requested"}
DESK_SLOT_STATE = "desk_slot"
# while a clinic hub relays its backlog (re-runs held, ``LocalStore.apply_changes(more_coming=…)``), a
# pull's long-poll waits at most this long: the page that ends the burst is asked for promptly
HELD_WAIT_SECONDS = 1.0


def assigned_desk_slot(store: LocalStore, campus_id: str | None) -> int | None:
    """The slot the server assigned this PC at ``campus_id`` at its last online login, or ``None``
    (never logged in online asking for one, another campus, or every slot held by other PCs)."""
    value = store.state(DESK_SLOT_STATE)
    if not isinstance(value, dict) or campus_id is None or value.get("campus_id") != campus_id:
        return None
    slot = value.get("slot")
    return slot if isinstance(slot, int) else None


StatusCallback = Callable[[SyncStatus], None]
ChangesCallback = Callable[[set[str]], None]


@dataclass(frozen=True)
class BootstrapProgress:
    """Reported after every verified chunk: rows applied so far and the server's estimate of the total."""

    applied: int
    estimated: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.applied / self.estimated) if self.estimated else 1.0


ProgressCallback = Callable[[BootstrapProgress], None]


class SyncEngine:
    """Keeps one ``LocalStore`` in step with the central API through one ``ApiTransport``."""

    def __init__(
        self,
        store: LocalStore,
        transport: ApiTransport,
        *,
        on_status: StatusCallback | None = None,
        on_changes: ChangesCallback | None = None,
        tokens: TokenStore | None = None,
        lang: str = DEFAULT_LANGUAGE,
        push_batch: int = 200,
        pull_limit: int = 1000,
        long_poll_seconds: float = 25.0,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        probe_interval: float = 4.0,
        reshare_seconds: float = 20.0,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.transport = transport
        self.on_status = on_status
        self.on_changes = on_changes
        self.tokens = tokens or TokenStore()
        self.lang = lang
        self.push_batch = push_batch
        self.pull_limit = pull_limit
        self.long_poll_seconds = long_poll_seconds
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.probe_interval = probe_interval
        # entries a clinic hub shares are pushed to it again after this long (or at once when its LAN
        # list says the central API has answered for one): that push brings the central API's outcome
        self.reshare_seconds = reshare_seconds
        self._reshare_now = False
        self._hub: HubInfo | None = None  # the hub that answered the last pull, if one did
        self._next_earlier_probe = 0.0
        transport.on_switch = self._switched
        self._rng = rng or random.Random()
        self._lock = threading.RLock()
        self._push_lock = threading.Lock()
        self._pull_lock = threading.Lock()
        self._wake = threading.Event()
        self._run_stop: threading.Event | None = None
        self._failures = 0  # failures of a server that answered (5xx, busy …): exponential backoff
        self._unreachable = False  # the last failure was the server out of reach: probe (``_probe``)
        self._held = 0
        self._bootstrap_progress: float | None = None
        self._message = ""
        self._last_status: SyncStatus | None = None
        self._token_account = f"{store.app}:{store.device_id}"
        # a triage desk or kiosk asks for its ticket-number slot at every online login (0: any)
        self.desk_slot_request: int | None = None
        token = self.tokens.load(self._token_account)
        session = store.session()
        if token and session:
            transport.set_token(token)
            self._state = SyncState.SYNCING
        elif session:
            self._state = SyncState.AUTH_EXPIRED
            self._message = tr("sync.auth_expired", lang, pending=store.pending_count())
        else:
            self._state = SyncState.NOT_LOGGED_IN
        if self.tokens.problem:
            self._message = tr("sync.no_keyring", lang, detail=self.tokens.problem)

    # -- status ------------------------------------------------------------------------------------
    def status(self) -> SyncStatus:
        """A fresh snapshot (reads the outbox counts)."""
        offset = self.store.state("clock_offset")
        last = self.store.state("last_sync")
        with self._lock:
            return SyncStatus(
                state=self._state,
                pending=self.store.pending_count(),
                needs_attention=self.store.needs_attention_count(),
                last_sync=None if last is None else dt.datetime.fromisoformat(last),
                clock_offset_seconds=None if offset is None else float(offset),
                bootstrap_progress=self._bootstrap_progress,
                message=self._message,
                held_for_other_login=self._held,
                shared=self.store.shared_count(),
                server_role=self._server_role(),
                hub_upstream=None if self._hub is None else self._hub.upstream,
            )

    def _server_role(self) -> str:
        if len(self.transport.urls) < 2 and self._hub is None:
            return ""
        if self._hub is not None or self.transport.role() == "hub":
            return "hub"
        return "central"

    def _switched(self, before: str, after: str) -> None:
        """The transport moved to another server of the list: whatever hub answered before is not the
        one answering now (the next pull says), and the status bar shows the new one."""
        with self._lock:
            self._hub = None
            self._reshare_now = True
        log.warning("sync now goes to %s (was %s)", after, before)

    def _publish(self, state: SyncState | None = None, message: str | None = None) -> SyncStatus:
        with self._lock:
            if state is not None:
                self._state = state
            if message is not None:
                self._message = message
            snapshot = self.status()
            changed = snapshot != self._last_status
            self._last_status = snapshot
        if changed and self.on_status is not None:
            try:
                self.on_status(snapshot)
            except Exception:  # noqa: BLE001 - a broken listener must not stop syncing
                log.exception("on_status callback failed")
        return snapshot

    def _emit_changes(self, kinds: set[str]) -> None:
        if kinds and self.on_changes is not None:
            try:
                self.on_changes(set(kinds))
            except Exception:  # noqa: BLE001 - a broken listener must not stop syncing
                log.exception("on_changes callback failed")

    def _note_server_time(
        self, server_time: dt.datetime, sent: dt.datetime, received: dt.datetime, *, quick: float = 2.0
    ) -> None:
        """Record the clock offset (server minus this PC) and the time of the last good exchange. A slow
        answer (a long-poll that waited) says little about the offset, so only quick ones measure it."""
        if (received - sent).total_seconds() > quick:
            previous = self.store.state("clock_offset")
            offset = float(previous) if previous is not None else (server_time - received).total_seconds()
        else:
            offset = (server_time - (sent + (received - sent) / 2)).total_seconds()
        self.store.note_exchange(clock_offset=offset, at=received)
        if abs(offset) > CLOCK_WARNING_SECONDS:
            log.warning("clock offset %.0f s against the server", offset)

    def _healthy_message(self) -> str:
        offset = self.store.state("clock_offset")
        if offset is not None and abs(float(offset)) > CLOCK_WARNING_SECONDS:
            return tr("sync.clock_skew", self.lang, minutes=round(abs(float(offset)) / 60))
        if self._held:
            return tr("sync.held_for_other", self.lang, count=self._held)
        if self.tokens.problem:
            return tr("sync.no_keyring", self.lang, detail=self.tokens.problem)
        return ""

    # -- login -------------------------------------------------------------------------------------
    def login(self, username: str, password: str, campus_id: str | None = None) -> Staff:
        """Log in online; the token goes to the keyring. Raises AuthFailed / AccountLocked /
        TransientError. A different campus than before makes this PC re-bootstrap (its scope changed)."""
        sent = self.store.clock()
        try:
            answer = self.transport.login(
                username=username,
                password=password,
                device_id=self.store.device_id,
                campus_id=campus_id,
                device_secret=self._device_secret(),
                desk_slot=self.desk_slot_request,
            )
        except SuiteError as error:
            if error.code == WIPE_CODE:
                self._obey_wipe(error)
            raise
        return self._signed_in(answer, sent)

    def setup_login(
        self, username: str, setup_code: str, new_password: str, campus_id: str | None = None
    ) -> Staff:
        """The first login with a one-time setup code (a new account, or after a password reset): the
        server sets ``new_password`` and logs in; then as ``login``. Raises ValidationFailed
        (``weak_password``), AuthFailed (``setup_failed``) or TransientError."""
        sent = self.store.clock()
        try:
            answer = self.transport.setup(
                username=username,
                setup_code=setup_code,
                new_password=new_password,
                device_id=self.store.device_id,
                campus_id=campus_id,
                device_secret=self._device_secret(),
            )
        except SuiteError as error:
            if error.code == WIPE_CODE:
                self._obey_wipe(error)
            raise
        return self._signed_in(answer, sent)

    def _signed_in(self, answer: LoginResponse, sent: dt.datetime) -> Staff:
        self._note_server_time(answer.server_time, sent, self.store.clock())
        self.transport.set_token(answer.token)
        # The campus decides which rows this PC receives: data downloaded for another campus must be
        # replaced by a fresh snapshot (whoever was logged in, or nobody, in between).
        if self.store.cursor() is not None and self.store.state("scope_campus") != answer.campus_id:
            self.store.mark_reset_needed("campus_changed")
        self.store.set_state("scope_campus", answer.campus_id)
        # Likewise the fields a role receives (ID numbers masked for some roles): a different view than
        # the one downloaded is downloaded again, so a PC never keeps what its new user may not see.
        view = sorted(restricted_kinds(answer.staff.roles))
        if self.store.cursor() is not None and self.store.state("scope_view", view) != view:
            self.store.mark_reset_needed("view_changed")
        self.store.set_state("scope_view", view)
        self.store.set_session(answer.staff, answer.campus_id)
        self.store.note_clinic_timezone(answer.timezone)  # the hospital's zone, whatever this PC's is
        if self.desk_slot_request is not None:  # the server's word on this PC's ticket-number slot
            self.store.set_state(
                DESK_SLOT_STATE,
                {
                    "campus_id": answer.campus_id,
                    "slot": answer.desk_slot,
                    "requested": self.desk_slot_request,
                },
            )
        message = ""
        try:
            self.tokens.save(self._token_account, answer.token)
        except KeyringUnavailable as error:
            message = tr("sync.no_keyring", self.lang, detail=error.message)
        self._failures = 0
        self._unreachable = False
        self._publish(SyncState.ONLINE, message or self._healthy_message())
        self.wake()
        return answer.staff

    def _device_secret(self) -> str:
        """This PC's login secret: once an account logged in with it, failed logins elsewhere never
        lock that account out of this PC (the server keeps its hash, ``login_throttle``)."""
        secret = self.store.state("device_secret")
        if not secret:
            secret = secrets.token_urlsafe(32)
            self.store.set_state("device_secret", secret)
        return str(secret)

    def logout(self) -> None:
        """Push what can be pushed now, revoke the token, forget the session. Whatever is still pending
        stays in the outbox and is pushed when the same user logs in again."""
        if self.transport.token:
            try:
                self.push_outbox()
            except SuiteError as error:
                log.info("logout: outbox not pushed now (%s); it stays for the next login", error.code)
            try:
                self.transport.logout()
            except SuiteError as error:
                log.info("logout: token not revoked on the server (%s)", error.code)
        self.tokens.delete(self._token_account)
        self.transport.set_token(None)
        self.store.clear_session()
        self._publish(SyncState.NOT_LOGGED_IN, "")

    # -- push --------------------------------------------------------------------------------------
    def push_outbox(self) -> int:
        """Push every unresolved mutation of the logged-in user in client order; store the outcomes.
        Returns how many outcomes were stored. Raises TransientError / AuthFailed to the caller."""
        with self._push_lock:
            return self._push_locked()

    def _push_locked(self) -> int:
        session = self.store.session()
        if session is None or not self.transport.token:
            raise AuthFailed(tr("auth.missing_token", self.lang), code="token_missing")
        total = 0
        batch_size = self.push_batch
        renewals = 0
        after = 0
        with self._lock:
            reshare, self._reshare_now = self._reshare_now, False
        via = self.transport.base_url
        since = None if reshare else self.store.clock() - dt.timedelta(seconds=self.reshare_seconds)
        while True:
            entries, self._held = self.store.next_batch(
                batch_size, staff_id=session.staff.id, after=after, shared_via=via, shared_since=since
            )
            if not entries:
                break
            if total == 0:
                self._publish(SyncState.SYNCING)
            offset = self.store.seq_offset()
            client_id = self.store.client_id
            skew = dt.timedelta(seconds=float(self.store.state("clock_offset") or 0.0))
            envelopes = [_envelope(entry, offset, skew) for entry in entries]
            ids = [entry.mutation_id for entry in entries]
            sent = self.store.clock()
            try:
                answer = self.transport.push(client_id, envelopes)
            except PayloadTooLarge:
                if batch_size == 1:
                    raise
                batch_size = max(1, batch_size // 2)
                continue
            except SequenceMismatch as error:
                renewals += self._sequence_mismatch(error, entries, offset)
                if renewals > 3:
                    raise ProtocolError(f"client sequence keeps breaking: {error.message}") from error
                after, since = 0, None  # from the oldest unresolved entry again, shared ones included
                continue
            except SuiteError as error:
                # Not delivered, or delivered with its answer lost: still pending (a replay is harmless).
                self.store.note_push_failed(ids, f"{error.code}: {error.message}")
                raise
            self.store.mark_sent(ids)  # the server has them: "sent" until each one's outcome is stored
            self._note_server_time(answer.server_time, sent, self.store.clock())
            answered = {o.mutation_id for o in answer.outcomes}
            shared = [m for m in dict.fromkeys(answer.shared) if m not in answered and m in set(ids)]
            if shared:  # a clinic hub holds them: delivered, the central API's outcome still to come
                self.store.mark_shared(shared, via=self.transport.base_url)
            self._emit_changes(self.store.apply_outcomes(answer.outcomes))
            total += len(answer.outcomes)
            rejected = sum(1 for o in answer.outcomes if o.status == "rejected" and not o.replayed)
            if rejected:
                log.warning("%d mutation(s) rejected by the server; see needs attention", rejected)
            self._publish()
            missing = len(set(ids) - answered - set(shared))
            if missing:
                raise ProtocolError(
                    f"push answered {len(answered)} and shared {len(shared)} of {len(entries)} mutations"
                )
            after = entries[-1].client_seq
        return total

    def _sequence_mismatch(self, error: SequenceMismatch, entries: list[OutboxEntry], offset: int) -> int:
        """Recover from a client_seq gap (the server lost mutations: send them again) or reuse (this
        database lost mutations the server has: continue under a new client id). Returns 1 if the client
        identity was renewed."""
        detail = error.detail if isinstance(error.detail, dict) else {}
        before = [MutationOutcome.model_validate(o) for o in detail.get("outcomes") or []]
        self._emit_changes(self.store.apply_outcomes(before))
        expected = int(detail.get("expected") or 0)
        failed = next((e for e in entries if e.mutation_id == detail.get("mutation_id")), None)
        if error.code == "client_seq_reused":
            if failed is None:
                raise ProtocolError(error.message, code=error.code, detail=detail) from error
            client_id = self.store.renew_client_identity(failed.client_seq)
            log.error(
                "server already holds client_seq %s from another mutation (local database restored?); "
                "continuing as client %s",
                failed.client_seq - offset,
                client_id,
            )
            return 1
        # client_seq_gap: resend what the server says it misses
        requeued = self.store.requeue_from(expected + offset) if expected else 0
        log.error(
            "server expects client_seq %s (server restored?); resending %d mutation(s)", expected, requeued
        )
        if not requeued:
            raise ProtocolError(error.message, code=error.code, detail=detail) from error
        return 0

    # -- pull --------------------------------------------------------------------------------------
    def pull_changes(self, *, wait: float = 0.0, stop: threading.Event | None = None) -> int:
        """Pull pages until the feed is caught up; the first request may long-poll ``wait`` seconds.
        Each page and its cursor are committed together. Returns the number of changes applied.
        A set ``stop`` event makes it return without applying a page that arrives afterwards."""
        with self._pull_lock:
            applied = 0
            first = True
            held = self.store.reruns_held()
            while stop is None or not stop.is_set():
                cursor = self.store.cursor()
                if cursor is None:
                    raise SuiteError("this PC has no data yet; bootstrap first", code="needs_bootstrap")
                sent = self.store.clock()
                lan_after = self.store.lan_after()
                wait_now = wait if first else 0.0
                if self.transport.current_index > 0:  # on a later server: back to an earlier one soon
                    wait_now = min(wait_now, self.probe_interval)
                if held:  # the hub's relay is settling the LAN list: ask again soon, not in 25 s
                    wait_now = min(wait_now, HELD_WAIT_SECONDS)
                try:
                    page: PullResponse = self.transport.pull(
                        cursor, limit=self.pull_limit, wait=wait_now, lan_after=lan_after
                    )
                except SuiteError:
                    if held:  # no page will end the burst now: show the view whole
                        self._emit_changes(self.store.release_reruns())
                    raise
                first = False
                if stop is not None and stop.is_set():
                    break
                # A long-poll answer's server_time is taken when it ends, not half-way: only a quick
                # answer measures the clock offset.
                self._note_server_time(page.server_time, sent, self.store.clock(), quick=0.3)
                lan = None if page.hub is None else LanPage(page.hub, page.lan, page.lan_next, lan_after)
                # more confirmed pages follow at once: the feed has more, or the hub is relaying its
                # backlog upstream (each step settles more of the LAN list); re-runs wait for the last
                held = page.has_more or (page.hub is not None and page.hub.upstream and page.hub.backlog > 0)
                kinds = self.store.apply_changes(
                    page.changes, cursor=page.next_cursor, lan=lan, more_coming=held
                )
                applied += len(page.changes)
                self._note_hub(page)
                self._emit_changes(kinds)
                restarted = page.hub is not None and lan_after > 0 and self.store.lan_after() == 0
                more_lan = bool(page.lan) and page.lan_next is not None and page.lan_next > lan_after
                if not page.has_more and not restarted and not more_lan:
                    break
            return applied

    def _note_hub(self, page: PullResponse) -> None:
        """Who answered the pull: a hub (with its upstream link) or not; the central API's answer for
        one of this PC's shared entries (the hub's LAN list names it again) makes the next push ask."""
        before = self._hub
        with self._lock:
            self._hub = page.hub
        client_id = self.store.client_id
        if any(e.client_id == client_id and e.status != "pending" for e in page.lan):
            with self._lock:
                self._reshare_now = True
            self.wake()
        if (before is None) != (page.hub is None) or (
            before is not None and page.hub is not None and before.upstream != page.hub.upstream
        ):
            if page.hub is not None:
                log.info(
                    "clinic hub %s answers; central API %s",
                    page.hub.hub_id,
                    "reachable" if page.hub.upstream else "unreachable: sharing on the LAN",
                )
            self._publish()

    # -- bootstrap ---------------------------------------------------------------------------------
    def bootstrap(self, progress: ProgressCallback | None = None) -> int:
        """Download the snapshot (or resume the one in progress after its last verified checkpoint).
        Each chunk is checked against its SHA-256 and committed with its checkpoint; a crash or a cut
        connection loses at most one chunk. Returns rows applied by this call."""
        with self._pull_lock:
            return self._bootstrap_locked(progress)

    def _bootstrap_locked(self, progress: ProgressCallback | None) -> int:
        state = self.store.bootstrap_state()
        after = state.after if state else 0
        applied_now = 0
        self._publish(SyncState.SYNCING)
        with self.transport.bootstrap(after) as lines:
            header = json.loads(next(lines, b"{}") or b"{}")
            if header.get("type") != "header":
                raise TransientError("bootstrap stream did not start with a header", code="bad_answer")
            if state is None:
                state = self.store.begin_bootstrap(
                    head=int(header["head"]), estimated=int(header["estimated_items"])
                )
            estimated = state.applied + int(header["estimated_items"])
            chunk_lines: list[bytes] = []
            chunk: list[Change] = []
            finished = False
            for line in lines:
                if not line:
                    continue
                item = json.loads(line)
                kind = item.get("type")
                if kind == "item":
                    chunk_lines.append(line)
                    chunk.append(Change.model_construct(**item["change"]))
                elif kind == "checkpoint":
                    digest = hashlib.sha256(b"\n".join(chunk_lines)).hexdigest()
                    if digest != item["sha256"] or len(chunk) != int(item["count"]):
                        raise TransientError(
                            "bootstrap chunk failed its checksum; resuming", code="bootstrap_corrupt"
                        )
                    state = self.store.apply_bootstrap_chunk(chunk, checkpoint=int(item["seq"]))
                    applied_now += len(chunk)
                    self._emit_changes({c.kind for c in chunk})
                    chunk_lines, chunk = [], []
                    report = BootstrapProgress(applied=state.applied, estimated=max(estimated, state.applied))
                    with self._lock:
                        self._bootstrap_progress = report.fraction
                    self._publish(
                        message=tr(
                            "sync.bootstrapping", self.lang, done=report.applied, total=report.estimated
                        )
                    )
                    if progress is not None:
                        progress(report)
                elif kind == "end":
                    if chunk:
                        raise TransientError("bootstrap ended inside a chunk", code="bad_answer")
                    self._emit_changes(self.store.finish_bootstrap(cursor=int(item["cursor"])))
                    finished = True
                    break
                if self._run_stop is not None and self._run_stop.is_set():
                    break
            if not finished:
                raise TransientError("bootstrap stream ended early; it will resume", code="network")
        with self._lock:
            self._bootstrap_progress = None
        log.info("bootstrap finished: %d rows in this run, %d in total", applied_now, state.applied)
        if progress is not None:
            progress(BootstrapProgress(applied=state.applied, estimated=state.applied))
        self._publish(message=self._healthy_message())
        return applied_now

    def _catch_up_structure(self) -> None:
        """Bootstrap when needed; after a 410 the outbox is pushed first (and kept whatever happens)."""
        if not self.store.needs_bootstrap():
            return
        if self.store.state("reset_needed"):
            self._publish(SyncState.SYNCING, tr("sync.resetting", self.lang))
            self.push_outbox()
        self.bootstrap()

    # -- one exchange / the loop -------------------------------------------------------------------
    def sync_once(self) -> SyncStatus:
        """Bootstrap if needed, push the outbox, pull until caught up (no long-poll). Errors become the
        returned state (offline, auth expired …); a 410 is handled here (push first, then re-bootstrap)."""
        for _attempt in range(2):
            try:
                self._require_token()
                self._prefer_earlier()  # on a later server of the list: back to the hub once it answers
                self._catch_up_structure()
                self.push_outbox()
                self.pull_changes(wait=0.0)
                self._failures = 0
                self._unreachable = False
                return self._publish(SyncState.ONLINE, self._healthy_message())
            except CursorReset as error:
                self._cursor_reset(error)
            except SuiteError as error:
                return self._failed(error)
        return self.status()

    def _require_token(self) -> None:
        if not self.transport.token:
            raise AuthFailed(tr("auth.missing_token", self.lang), code="token_missing")

    def _cursor_reset(self, error: CursorReset) -> None:
        log.warning("server refused the cursor (%s): pushing the outbox, then re-bootstrapping", error.code)
        self.store.mark_reset_needed(error.code)
        self._publish(SyncState.SYNCING, tr("sync.resetting", self.lang))

    def _failed(self, error: SuiteError) -> SyncStatus:
        if error.code == WIPE_CODE:
            return self._obey_wipe(error)
        if isinstance(error, AuthFailed):
            if error.code in ("token_expired", "token_invalid", "account_inactive"):
                self.tokens.delete(self._token_account)
                self.transport.set_token(None)
            state = SyncState.AUTH_EXPIRED if self.store.session() else SyncState.NOT_LOGGED_IN
            message = tr("sync.auth_expired", self.lang, pending=self.store.pending_count())
            if state is SyncState.NOT_LOGGED_IN:
                message = tr("sync.not_logged_in", self.lang)
            return self._publish(state, message)
        self._unreachable = unreachable(error)
        if not self._unreachable:
            self._failures += 1
        if isinstance(error, TransientError):
            log.info("offline: %s", error.message)
            return self._publish(SyncState.OFFLINE, tr("sync.offline", self.lang, error=error.message))
        log.error("sync problem %s: %s", error.code, error.message)
        return self._publish(SyncState.OFFLINE, tr("sync.problem", self.lang, error=error.message))

    # -- remote wipe (IT retired or lost this PC; see shared.store.wipe) ----------------------------
    def _obey_wipe(self, error: SuiteError) -> SyncStatus:
        """The server's wipe instruction: stop syncing, delete the local data, its key and the login,
        and say so (the store is gone, so this status is not read from it)."""
        log.warning("the server told this PC to wipe its local data")
        self.transport.set_token(None)
        if self._run_stop is not None:
            self._run_stop.set()
        wipe_local_data(self.store, tokens=self.tokens, token_account=self._token_account)
        snapshot = SyncStatus(state=SyncState.NOT_LOGGED_IN, message=error.message)
        with self._lock:
            self._state, self._message, self._last_status = snapshot.state, snapshot.message, snapshot
        if self.on_status is not None:
            try:
                self.on_status(snapshot)
            except Exception:  # noqa: BLE001 - a broken listener must not stop the wipe's report
                log.exception("on_status callback failed")
        return snapshot

    def backoff_delay(self) -> float:
        """Exponential backoff with jitter (between half and all of the exponential step)."""
        step = min(self.backoff_max, self.backoff_base * (2 ** min(max(self._failures, 1) - 1, 16)))
        return step * (0.5 + 0.5 * self._rng.random())

    def retry_delay(self) -> float:
        """Seconds until the next try after a failure. A server out of reach is probed again after
        between half and all of ``probe_interval`` (jitter: a clinic's PCs do not arrive together when
        it returns), however long the outage; a server that answered with an error gets exponential
        backoff (it is there, but struggling)."""
        if self._unreachable:
            return self.probe_interval * (0.5 + 0.5 * self._rng.random())
        return self.backoff_delay()

    def _probe(self) -> None:
        """While the server is out of reach: one cheap ``GET /healthz``; raises TransientError if it is
        still away, else the engine is online again at once (before any long-poll)."""
        sent = self.store.clock()
        info = self.transport.health(first=True)  # the list in order: back to the hub as soon as it answers
        self._note_server_time(info.server_time, sent, self.store.clock())
        self.store.note_clinic_timezone(info.timezone)
        self._reached()

    def _prefer_earlier(self) -> None:
        """Online on a later server of the list: every ``probe_interval`` (jittered) ask the earlier ones
        (the clinic hub) and move back to the first that answers."""
        if self.transport.current_index == 0:
            return
        now = time.monotonic()
        if now < self._next_earlier_probe:
            return
        self._next_earlier_probe = now + self.probe_interval * (0.5 + 0.5 * self._rng.random())
        if self.transport.prefer_earlier() is not None:
            self._publish()

    def _reached(self) -> None:
        """An exchange with the server went through: online (the only place that says so in ``run``)."""
        self._failures = 0
        self._unreachable = False
        self._publish(SyncState.ONLINE, self._healthy_message())

    def wake(self) -> None:
        """Push now (after a local change, or a login); safe from any thread."""
        self._wake.set()

    def run(self, stop_event: threading.Event) -> None:
        """Sync until ``stop_event`` is set: push, long-poll pull, back off with jitter while offline.
        ``wake()`` pushes at once, even while a long-poll is waiting."""
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-pull")
        poll: Future[int] | None = None
        self._run_stop = stop_event
        try:
            while not stop_event.is_set():
                if not self.transport.token:
                    self._failed(AuthFailed(tr("auth.missing_token", self.lang), code="token_missing"))
                    self._wait(stop_event, 1.0)
                    continue
                try:
                    if self._unreachable and poll is None:
                        self._wake.clear()
                        self._probe()
                    self._catch_up_structure()
                    self._wake.clear()
                    if self.push_outbox():
                        self._reached()
                    if poll is None:
                        self._prefer_earlier()
                        poll = pool.submit(self.pull_changes, wait=self.long_poll_seconds, stop=stop_event)
                    while not poll.done() and not stop_event.is_set():
                        if self._wake.wait(0.2):
                            self._wake.clear()
                            if self.push_outbox():
                                self._reached()
                    if stop_event.is_set():
                        break
                    finished, poll = poll, None
                    finished.result()
                    self._reached()
                except CursorReset as error:
                    poll = None
                    self._cursor_reset(error)
                except SuiteError as error:
                    if poll is not None and poll.done():
                        poll = None
                    self._failed(error)
                    if self._state in (SyncState.AUTH_EXPIRED, SyncState.NOT_LOGGED_IN):
                        self._wait(stop_event, 5.0)  # a login wakes us at once
                        continue
                    self._wait(stop_event, self.retry_delay())
                except Exception as error:  # noqa: BLE001 - the loop must survive a bug and retry later
                    poll = None
                    log.exception("unexpected sync failure")
                    self._failures += 1
                    self._unreachable = False
                    self._publish(SyncState.OFFLINE, tr("sync.problem", self.lang, error=str(error)))
                    self._wait(stop_event, self.backoff_delay())
        finally:
            self._run_stop = None
            pool.shutdown(wait=False, cancel_futures=True)

    def _wait(self, stop_event: threading.Event, seconds: float) -> None:
        """Sleep up to ``seconds``; a stop or a wake ends it early (the wake stays set for the loop)."""
        waited = 0.0
        while waited < seconds and not stop_event.is_set():
            step = min(0.2, seconds - waited)
            if self._wake.wait(step):
                return
            waited += step


# Transient failures that mean the server is out of reach (not answering, or stopping), as opposed to
# a server that answered with an error.
_UNREACHABLE_CODES = frozenset({"network", "server_stopping", "http_502", "http_503", "http_504"})


def unreachable(error: SuiteError) -> bool:
    return isinstance(error, TransientError) and error.code in _UNREACHABLE_CODES


def _envelope(entry: OutboxEntry, offset: int, skew: dt.timedelta = dt.timedelta(0)) -> MutationEnvelope:
    """The wire form of an outbox entry; ``occurred_at`` is this PC's time corrected by its measured
    clock offset (server minus PC), so the server reads it on its own clock."""
    return MutationEnvelope(
        mutation_id=entry.mutation_id,
        client_seq=entry.client_seq - offset,
        name=entry.name,
        args=entry.args,
        base_version=entry.base_version,
        occurred_at=entry.occurred_at + skew,
    )
