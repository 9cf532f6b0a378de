"""The gradebook: the durable outbox of scores to the LMS and its worker."""
