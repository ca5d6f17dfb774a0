"""Errors a user can fix; stage entry points print their message alone, without a traceback."""


class RlvrError(Exception):
    """Base of the errors whose message says what is wrong and how to fix it."""


class DataError(RlvrError, ValueError):
    """Input data that cannot be read: a missing file, an unknown format, a malformed line or column."""
