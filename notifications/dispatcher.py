"""The mail dispatcher: claims due deliveries, sends them, and records the outcome.

Exactly once, even when a worker is killed mid-send, comes from where the
commit sits::

    claim (commit "sending")  →  SMTP up to the body, no end-of-data mark
                              →  commit "sent"  →  end-of-data mark, final reply

A process killed before the "sent" commit has left the server a message with
no end mark, which the server throws away; the row stays ``sending`` and is
claimed again once its lease runs out. A process killed after the commit
has already sent the three bytes that remain, or dies within microseconds of
doing so: the only window where an email can be lost, never doubled. A
final reply that refuses the message puts the row back to retry (or failed).

Claims are a compare-and-set ``UPDATE``: a row is taken only if it is still
due when the update reaches it, so several dispatchers (threads, processes,
machines) can share one table; on PostgreSQL the loser of a race re-reads the
row after the winner commits and finds it no longer due.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.logging import get_logger
from notifications.errors import MailError, MailRejected
from notifications.models import Delivery, DeliveryStatus
from notifications.settings import MailSettings
from notifications.transport import (
    MailTransport,
    Prepared,
    build_message,
    build_transport,
    sender_address,
)

log = get_logger("liveclass.sessions.notifications")


@dataclass(frozen=True)
class MailRetry:
    """How often and how soon to try an email again."""

    max_attempts: int = 5
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)

    def delay(self, attempts: int) -> timedelta:
        delay: timedelta = self.first_delay * 2 ** max(attempts - 1, 0)
        return min(delay, self.max_delay)


class MailDispatcher:
    """Sends queued guardian emails; safe to run in several processes at once.

    Args:
        sessionmaker: the database; each step commits in its own transaction.
        transport: where messages go (``build_transport(settings)``).
        clock: the current UTC time (``Clock.now``).
        mail_from: the From header; its address is the SMTP envelope sender.
        retry: attempts and backoff.
        lease: how long a ``sending`` row is left to its claimant before another
            dispatcher may take it over; longer than one whole send can take.
        batch: how many deliveries one pass claims.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        transport: MailTransport,
        *,
        clock: Callable[[], datetime],
        mail_from: str,
        retry: MailRetry | None = None,
        lease: timedelta = timedelta(minutes=5),
        batch: int = 20,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._transport = transport
        self._clock = clock
        self._mail_from = mail_from
        self._sender = sender_address(mail_from)
        self._retry = retry or MailRetry()
        self._lease = lease
        self._batch = batch

    @classmethod
    def from_settings(
        cls,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: MailSettings,
        *,
        clock: Callable[[], datetime],
    ) -> MailDispatcher:
        """The dispatcher ``liveclass serve``/``worker`` run: transport, sender and
        attempts from ``LIVECLASS_SMTP_URL``, ``_MAIL_FROM``, ``_MAIL_MAX_ATTEMPTS``;
        the lease (``_MAIL_LEASE_SECONDS``) is at least every SMTP step timing out once."""
        return cls(
            sessionmaker,
            build_transport(settings),
            clock=clock,
            mail_from=settings.mail_from,
            retry=MailRetry(max_attempts=settings.mail_max_attempts),
            lease=max(
                timedelta(seconds=settings.mail_lease_seconds),
                timedelta(seconds=settings.mail_timeout_seconds * 6),
            ),
        )

    async def dispatch_once(self) -> int:
        """Claim what is due and send it; returns how many emails went out."""
        claimed = await self._claim()
        sent = 0
        for delivery in claimed:
            sent += await self._send(delivery)
        return sent

    async def run_forever(self, interval: float, stop: asyncio.Event | None = None) -> None:
        """Dispatch until cancelled or until ``stop`` is set; a pass that fails as a whole
        is logged and retried.

        A full batch goes round again at once; otherwise it waits ``interval``,
        on ``stop`` when given, so an idle dispatcher asked to stop returns at
        once and a busy one after the pass it is in. Every claim of that pass
        then ends sent, retried or failed, where a cancelled pass leaves its
        unsent claims ``sending`` until the lease runs out, and may cut a
        database round trip short (which can leave row locks held, or an
        aiosqlite connection that never closes).
        """
        while stop is None or not stop.is_set():
            try:
                sent = await self.dispatch_once()
            except Exception:
                log.exception("mail dispatch failed; trying again next interval")
                sent = 0
            if sent < self._batch:
                if stop is None:
                    await asyncio.sleep(interval)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), interval)

    def _due(self, now: datetime) -> ColumnElement[bool]:
        return or_(
            and_(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now),
            and_(
                Delivery.status == DeliveryStatus.SENDING,
                Delivery.claimed_at < now - self._lease,
            ),
        )

    async def _claim(self) -> list[Delivery]:
        now = self._clock()
        token = secrets.token_hex(16)
        due = self._due(now)
        candidates = (
            select(Delivery.id)
            .where(due)
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(self._batch)
        )
        async with self._sessionmaker() as db, db.begin():
            # The condition is repeated outside the subquery: it is what the UPDATE
            # re-checks on each row it locks, the compare in compare-and-set.
            await db.execute(
                update(Delivery)
                .where(Delivery.id.in_(candidates), due)
                .values(
                    status=DeliveryStatus.SENDING,
                    claim_token=token,
                    claimed_at=now,
                    attempts=Delivery.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
        async with self._sessionmaker() as db:
            rows = list(
                await db.scalars(
                    select(Delivery).where(Delivery.claim_token == token).order_by(Delivery.id)
                )
            )
        for row in rows:
            log.debug("= claimed", delivery=row.id, attempt=row.attempts)
        return rows

    async def _send(self, delivery: Delivery) -> int:
        try:
            prepared = await self._transport.prepare(
                sender=self._sender,
                recipient=delivery.to_address,
                message=build_message(delivery, mail_from=self._mail_from),
                name=delivery.id,
            )
        except MailError as exc:
            await self._failed(delivery, exc, status=DeliveryStatus.SENDING)
            return 0
        except Exception as exc:
            log.exception("delivery failed unexpectedly", delivery=delivery.id)
            await self._failed(delivery, exc, status=DeliveryStatus.SENDING)
            return 0
        # A cancellation before this point leaves the server a message without its
        # end mark (dropped) and the row "sending" (resent after the lease). From
        # here on, stopping halfway could commit "sent" and never send the dot, so
        # a cancelled dispatcher first finishes this one email (bounded by timeouts).
        finish = asyncio.ensure_future(self._finish(delivery, prepared))
        try:
            return await asyncio.shield(finish)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await finish
            raise

    async def _finish(self, delivery: Delivery, prepared: Prepared) -> int:
        try:
            marked = await self._mark_sent(delivery)
        except BaseException:
            prepared.abort()
            log.exception("could not record a delivery as sent", delivery=delivery.id)
            return 0  # still "sending": another pass takes it after the lease
        if not marked:
            prepared.abort()
            log.warning("delivery lease lost; not sending", delivery=delivery.id)
            return 0
        try:
            await prepared.release()
        except MailRejected as exc:
            await self._failed(delivery, exc, status=DeliveryStatus.SENT)
            return 0
        except MailError as exc:
            # The end mark went out and no verdict came back: most likely delivered.
            # Sending again would risk a second copy, so the row stays sent.
            await self._note(delivery, f"no final reply, assumed delivered: {exc}")
            log.warning("no reply after end of data", delivery=delivery.id)
        log.info("email sent", delivery=delivery.id, kind=delivery.kind.value)
        return 1

    async def _mark_sent(self, delivery: Delivery) -> bool:
        async with self._sessionmaker() as db, db.begin():
            result = await db.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery.id,
                    Delivery.status == DeliveryStatus.SENDING,
                    Delivery.claim_token == delivery.claim_token,
                )
                .values(status=DeliveryStatus.SENT, sent_at=self._clock(), last_error=None)
                .execution_options(synchronize_session=False)
            )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def _failed(self, delivery: Delivery, exc: Exception, *, status: DeliveryStatus) -> None:
        retryable = exc.retryable if isinstance(exc, MailError) else True
        give_up = not retryable or delivery.attempts >= self._retry.max_attempts
        now = self._clock()
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery.id,
                    Delivery.status == status,
                    Delivery.claim_token == delivery.claim_token,
                )
                .values(
                    status=DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING,
                    next_attempt_at=None if give_up else now + self._retry.delay(delivery.attempts),
                    last_error=f"{type(exc).__name__}: {exc}"[:2000],
                    claim_token=None,
                    sent_at=None,
                )
                .execution_options(synchronize_session=False)
            )
        # The error text may quote an address; the log keeps to ids and codes.
        log.warning(
            "email not sent",
            delivery=delivery.id,
            attempt=delivery.attempts,
            error=type(exc).__name__,
            code=getattr(exc, "code", None),
            gave_up=give_up,
        )

    async def _note(self, delivery: Delivery, error: str) -> None:
        async with self._sessionmaker() as db, db.begin():
            await db.execute(
                update(Delivery)
                .where(Delivery.id == delivery.id)
                .values(last_error=error[:2000])
                .execution_options(synchronize_session=False)
            )
