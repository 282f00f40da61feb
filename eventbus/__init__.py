"""The event bus: the outbox, the handler ledger, and the embedded and Redis Streams backends.

Imports only ``core``: it moves events and knows no event's meaning.
"""
