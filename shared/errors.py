"""One error root for the suite, with named kinds that every layer raises and the GUI shows in one place."""

from __future__ import annotations


class SuiteError(Exception):
    """Base of every error the suite raises on purpose.

    ``code`` is machine-readable and stable; ``message`` is for people (already translated).
    """

    code = "suite_error"

    def __init__(self, message: str, *, code: str | None = None, detail: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail = detail


class ValidationFailed(SuiteError):
    code = "invalid_input"


class NotFound(SuiteError):
    code = "not_found"


class PermissionDenied(SuiteError):
    code = "forbidden"


class AuthFailed(SuiteError):
    code = "auth_failed"


class AccountLocked(AuthFailed):
    code = "account_locked"


class Conflict(SuiteError):
    code = "conflict"


class BusinessRuleViolation(SuiteError):
    """A mutation broke a domain rule; the server records it as a permanent rejection."""

    code = "rule_violation"


class TransientError(SuiteError):
    """Retry later: network down, server busy, 5xx."""

    code = "transient"


class StoreError(SuiteError):
    code = "store_error"
