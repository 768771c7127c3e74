"""Errors of the user commands: one clear line on stderr and a non-zero exit, no traceback."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import aiohttp
import click

from agenttasks.kube.connection import ApiError
from agenttasks.kube.kubeconfig import KubeconfigError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure explained in one sentence."""


# The failures a command reports in one line; anything else is a bug and keeps its traceback.
# (TimeoutError is an OSError.)
EXPECTED = (CliError, ApiError, KubeconfigError, OSError, aiohttp.ClientError)


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def api_message(exc: ApiError) -> str:
    """The server's own message (``agenttasks.agenttasks.io "x" not found``), with the kind of
    failure in front when the message does not say it."""
    message = exc.message or exc.reason
    if exc.status == 401:
        return f"unauthorized: the API server refused the credentials ({message})"
    if exc.status == 403 and "forbidden" not in message.lower():
        return f"forbidden: {message}"
    return message or f"the API server answered {exc.status}"


def describe(exc: BaseException) -> str:
    """One line for any failure the commands expect."""
    if isinstance(exc, CliError):
        return one_line(str(exc))
    if isinstance(exc, ApiError):
        return one_line(api_message(exc))
    if isinstance(exc, KubeconfigError):
        return one_line(str(exc))
    if isinstance(exc, aiohttp.ClientError):
        return one_line(f"cannot reach the API server: {exc or type(exc).__name__}")
    if isinstance(exc, TimeoutError):
        return "cannot reach the API server: it did not answer in time"
    if isinstance(exc, FileNotFoundError):
        return one_line(f"{exc.strerror or 'not found'}: {exc.filename}")
    return one_line(f"{type(exc).__name__}: {exc}")


def fail(message: str) -> NoReturn:
    raise CliError(message)


def friendly_errors(f: Callable[..., Any]) -> Callable[..., Any]:
    """Turns the failures of a command into ``error: <one line>`` and exit code 1; Ctrl-C
    exits 130 quietly, and a closed pipe (``| head``) ends the command without noise."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:  # the reader went away: no message, and none at exit either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_ERROR)
        except EXPECTED as exc:
            click.echo(f"error: {describe(exc)}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper
