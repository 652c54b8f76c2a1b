"""Exceptions raised by the store."""


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message says what to do instead."""


class NotFoundError(StoreError, LookupError):
    """No patient, visit, photo or ROI with the given code or id."""


class OriginalError(StoreError):
    """An original photo file is missing, or its bytes no longer match their sha256."""
