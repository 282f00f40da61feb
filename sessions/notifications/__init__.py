"""Guardian notifications: who should get which email, and getting it there exactly once.

``GuardianNotices`` (a ``sessions.bus`` handler) turns ``exception.raised``
(student absent) and ``summary.approved`` into rows of the delivery log
(``Delivery``) through ``queue_guardian_notice``, honouring each family's
preferences and consents. ``MailDispatcher`` sends what is due over SMTP, or
to ``.eml`` files when no server is configured.
"""

from sessions.notifications.dispatcher import MailDispatcher, MailRetry
from sessions.notifications.errors import InvalidNotice, MailError, MailRejected, MailUnavailable
from sessions.notifications.handlers import GuardianNotices
from sessions.notifications.models import Delivery, DeliveryKind, DeliveryStatus
from sessions.notifications.queue import queue_guardian_notice
from sessions.notifications.transport import (
    MailTransport,
    OutboxTransport,
    SmtpTransport,
    build_transport,
)

__all__ = [
    "Delivery",
    "DeliveryKind",
    "DeliveryStatus",
    "GuardianNotices",
    "InvalidNotice",
    "MailDispatcher",
    "MailError",
    "MailRejected",
    "MailRetry",
    "MailTransport",
    "MailUnavailable",
    "OutboxTransport",
    "SmtpTransport",
    "build_transport",
    "queue_guardian_notice",
]
