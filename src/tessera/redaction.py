"""Secrets kept out of log lines: the values of token-like parameters of a URL's query,
and JSON Web Tokens wherever they appear.

A browser cannot set headers on a WebSocket, so clients send their token as
``/ws?access_token=...``, and uvicorn logs every WebSocket handshake, and with its access
log every request, with the query string. A plugin that asks for the caller's token
(``user_jwt``) may log its ``data``, or raise an error quoting it. A token in a log file is
a token anyone who reads the log can use until it expires.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

# A query: from "?" up to whitespace or a quote, which end a URL inside a log line.
_QUERY = re.compile(r"\?[^\s\"'<>]+")
_PARAMETER = re.compile(r"(^|[?&;])([^=&;]+)=([^&;]*)")
# Parameter names holding secrets: access_token, token, id_token, client_secret, ...
_SECRET_NAME = re.compile(r"token|secret|password|passwd|api_?key", re.IGNORECASE)
REDACTED = "[redacted]"
# A JSON Web Token in compact form: the base64url of a JSON header (which starts with '{"',
# hence "eyJ"), of the claims and of the signature. Local and OIDC bearer tokens are JWTs.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_TRACEBACKS = logging.Formatter()


def redact(text: str) -> str:
    """``text`` with every JWT and the value of each secret-named query parameter replaced."""
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    if "?" not in text:
        return text
    return _QUERY.sub(_redact_query, text)


def _redact_query(query: re.Match[str]) -> str:
    return _PARAMETER.sub(_redact_parameter, query.group(0))


def _redact_parameter(parameter: re.Match[str]) -> str:
    separator, name, value = parameter.groups()
    # The name as the server reads it: "access%5Ftoken" is access_token too.
    if value and _SECRET_NAME.search(unquote_plus(name)):
        value = REDACTED
    return f"{separator}{name}={value}"


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value
    # An object formatted with %s, a URL say: its text, when that text held a secret.
    try:
        text = str(value)
    except Exception:  # the handler will report it as it formats the line
        return value
    redacted = redact(text)
    return value if redacted == text else redacted


class RedactSecrets(logging.Filter):
    """Redacts secret query parameters in a record's message and arguments, in place.

    The arguments keep their number and order: uvicorn's access formatter unpacks them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            # The formatter keeps a traceback it finds already formatted: an exception's
            # message may quote a token.
            record.exc_text = redact(_TRACEBACKS.formatException(record.exc_info))
        if not isinstance(record.msg, str):
            # logger.info(data): the message is an object, and its text may hold a token.
            record.msg = _redact_value(record.msg)
        if isinstance(record.msg, str) and redact(record.msg) != record.msg:
            # The secret's name is in the format ("?token=%s"): redact the whole line.
            try:
                record.msg, record.args = redact(record.getMessage()), None
            except Exception:  # arguments that do not fit: the handler reports it
                record.msg = redact(record.msg)
            return True
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_value(arg) for key, arg in record.args.items()}
        return True
