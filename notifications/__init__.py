"""Guardian notifications: who should get which email, and getting it there exactly once.

``GuardianNotices`` (a ``eventbus.bus`` handler) turns ``exception.raised``
(student absent) and ``summary.approved`` into rows of the delivery log
(``Delivery``) through ``queue_guardian_notice``, honouring each family's
preferences and consents; ``SubstitutionNotices`` tells guardians and both
tutors when another tutor takes a session; ``ChangeNotices`` tells the
tutor, students and guardians of a cancelled or moved session.
``queue_due_reminders`` (run by
the lifecycle sweep) queues session reminders for tutors, students and
guardians.
``MailDispatcher`` sends what is due over SMTP, or to ``.eml`` files when no
server is configured.
"""

from notifications.dispatcher import MailDispatcher, MailRetry
from notifications.errors import InvalidNotice, MailError, MailRejected, MailUnavailable
from notifications.handlers import ChangeNotices, GuardianNotices, SubstitutionNotices
from notifications.models import Delivery, DeliveryKind, DeliveryStatus, RecipientRole
from notifications.queue import queue_guardian_notice
from notifications.reminders import queue_due_reminders
from notifications.transport import (
    MailTransport,
    OutboxTransport,
    SmtpTransport,
    build_transport,
)

__all__ = [
    "ChangeNotices",
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
    "RecipientRole",
    "SmtpTransport",
    "SubstitutionNotices",
    "build_transport",
    "queue_due_reminders",
    "queue_guardian_notice",
]
