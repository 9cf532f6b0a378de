"""Mail: messages written to a durable outbox in the transaction that causes them, sent by the worker."""
