"""The password policy for staff accounts: what a new password (set with a one-time setup code) must be.

At least 8 characters, letters and digits both, not the username, not a straight run or one repeated
character, not one of the passwords every attacker tries first. Checked on the server (the rule that
counts) and in the login dialog (so the person sees why next to the field before anything is sent)."""

from __future__ import annotations

from shared.i18n import register, tr

MIN_LENGTH = 8
MAX_LENGTH = 256
_COMMON = frozenset(
    {"password1", "passw0rd", "qwerty123", "abc12345", "admin123", "1qaz2wsx", "a1234567", "iloveyou1"}
)

register(
    "password.too_short",
    {"zh_CN": "密码至少 {n} 位", "en": "At least {n} characters", "zh_TW": "密碼至少 {n} 位"},
)
register(
    "password.too_long",
    {"zh_CN": "密码最多 {n} 位", "en": "At most {n} characters", "zh_TW": "密碼最多 {n} 位"},
)
register(
    "password.letters_digits",
    {
        "zh_CN": "密码须同时包含字母和数字",
        "en": "Use both letters and digits",
        "zh_TW": "密碼須同時包含字母和數字",
    },
)
register(
    "password.username",
    {"zh_CN": "密码不能包含用户名", "en": "Must not contain the username", "zh_TW": "密碼不能包含用戶名"},
)
register(
    "password.guessable",
    {
        "zh_CN": "密码太容易被猜到，请换一个",
        "en": "Too easy to guess; choose another",
        "zh_TW": "密碼太容易被猜到，請換一個",
    },
)


def password_problem(password: str, *, username: str, lang: str) -> str | None:
    """Why ``password`` may not be used by ``username`` (in ``lang``), or None when it may."""
    if len(password) < MIN_LENGTH:
        return tr("password.too_short", lang, n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return tr("password.too_long", lang, n=MAX_LENGTH)
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        return tr("password.letters_digits", lang)
    if username and username.lower() in password.lower():
        return tr("password.username", lang)
    lowered = password.lower()
    steps = {ord(b) - ord(a) for a, b in zip(lowered, lowered[1:], strict=False)}
    if lowered in _COMMON or steps <= {0} or steps <= {1} or steps <= {-1}:
        return tr("password.guessable", lang)
    return None
