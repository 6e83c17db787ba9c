"""The store's errors: each one sentence for a person, never carrying a secret."""


class StoreError(Exception):
    """Something the store cannot do; the message says what and how to fix it."""


class NotFound(StoreError):
    pass


class Conflict(StoreError):
    pass


class LockTimeout(StoreError):
    """Another process held the lock for longer than we were willing to wait."""
