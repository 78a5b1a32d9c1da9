"""The retry budget of remote calls: :class:`RetryPolicy`, and :class:`RemoteCalls` that spends it.

Transient failures (:func:`~artifactstore.backends.failures.classify_error`) are
retried with exponential backoff and jitter, within a number of attempts and a
total time; permanent ones, and transient ones that outlast the budget, become
:class:`~artifactstore.errors.BackendError` with the redacted URL. Log records
go to ``logging.getLogger("artifactstore.backends")`` with credentials removed
(:func:`artifactstore.redact.scrub`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import BackendError
from ..redact import redact_url, scrub, secret_values
from .failures import NOT_FOUND, TRANSIENT, UNKNOWN, classify_error, describe_error
from .options import CONNECT_TIMEOUT, connect_timeout_of
from .reach import EndpointUnreachable, check_reachable, endpoint_of

__all__ = ["DEFAULT_RETRY", "NO_RETRY", "RemoteCalls", "RetryPolicy"]

logger = logging.getLogger("artifactstore.backends")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded in attempts and in total time.

    Attempt ``n`` (from 1) that fails transiently waits a random time in
    ``[d/2, d]`` with ``d = min(max_delay, base_delay * 2**(n-1))``, unless
    that would exceed ``attempts`` or ``total_timeout`` seconds since the first try.
    """

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0
    total_timeout: float = 10.0

    def describe(self) -> str:
        """The budget in words, with how to change it (for the error that ends a retried call)."""
        return (f"retry budget: {self.attempts} attempt(s) within {self.total_timeout:g} s; set it with the "
                "storage option retry (an int of attempts, or {\"attempts\": N, \"total_timeout\": S}; "
                "-o retry=N on the command line)")

    def delays(self) -> Iterator[float]:
        for n in range(1, self.attempts):
            d = min(self.max_delay, self.base_delay * 2 ** (n - 1))
            yield random.uniform(d / 2, d)

    @classmethod
    def coerce(cls, value: Any) -> RetryPolicy:
        """A RetryPolicy from ``retry=`` option values: a policy, None (default), an int, or False."""
        if value is None or value is True:
            return DEFAULT_RETRY
        if value is False:
            return NO_RETRY
        if isinstance(value, RetryPolicy):
            return value
        if isinstance(value, int):
            return cls(attempts=max(1, value))
        if isinstance(value, Mapping):
            known = {"attempts", "base_delay", "max_delay", "total_timeout"}
            unknown = sorted(set(value) - known)
            if unknown:
                raise TypeError(f"retry takes {', '.join(sorted(known))}; not {', '.join(map(str, unknown))}")
            base = cls()
            return cls(attempts=int(value.get("attempts", base.attempts)),
                       base_delay=float(value.get("base_delay", base.base_delay)),
                       max_delay=float(value.get("max_delay", base.max_delay)),
                       total_timeout=float(value.get("total_timeout", base.total_timeout)))
        raise TypeError(f"retry must be a RetryPolicy, an int, a mapping or a bool, not {type(value).__name__}")


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


def _connect_failure(exc: BaseException) -> bool:
    """Did ``exc`` come from failing to connect (rather than from a request that got an answer)?"""
    seen: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in seen:
        seen.append(e)
        if isinstance(e, EndpointUnreachable) or "Connect" in type(e).__name__:
            return True
        e = e.__cause__ or e.__context__
    return False


class RemoteCalls:
    """Runs a backend's calls to its client library: retries and error translation.

    ``calls(op, key, fn)`` calls ``fn()``; a transient failure is retried per
    ``policy``; a permanent one (and a transient one that outlasts the policy)
    raises :class:`~artifactstore.errors.BackendError` naming the redacted URL.
    ``FileNotFoundError`` passes through for reads (the Backend contract) and
    becomes a BackendError for writes (the bucket or container is missing).
    Errors of other kinds (TypeError...) are bugs and propagate unchanged.
    """

    WRITE_OPS = frozenset({"write", "upload"})

    def __init__(
        self,
        url: str,
        options: Mapping[str, Any],
        policy: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = redact_url(url).rstrip("/")
        self.policy = policy
        self._connect_timeout = connect_timeout_of(options)
        proto = url.partition("://")[0].lower() if "://" in url else ""
        # S3 without an endpoint is AWS: botocore applies the connect timeout itself (reach.py).
        self._endpoint: tuple[str, int] | None = None
        if proto and (proto not in ("s3", "s3a") or options.get("endpoint_url")):
            self._endpoint = endpoint_of(proto, options)
            if self._endpoint is not None and self._connect_timeout is None:
                self._connect_timeout = CONNECT_TIMEOUT  # the reachability check's own
        self._secrets = secret_values(options)
        self._sleep = sleep
        self._clock = clock

    def where(self, key: str) -> str:
        return f"{self.url}/{key}" if key else self.url

    def __call__(self, op: str, key: str, fn: Callable[[], T]) -> T:
        start = self._clock()
        delays = self.policy.delays()
        attempt = 0
        while True:
            attempt += 1
            try:
                if self._endpoint is not None and op != "connect":  # building the client is local
                    check_reachable(self._endpoint, self._connect_timeout)
                return fn()
            except Exception as exc:
                kind = classify_error(exc)
                if kind == NOT_FOUND and op not in self.WRITE_OPS:
                    raise
                if kind == UNKNOWN:
                    raise
                detail = scrub(describe_error(exc), self._secrets)
                where = self.where(key)
                if kind == TRANSIENT:
                    delay = next(delays, None)
                    # A connection failure costs up to the connect timeout again: start the
                    # next attempt only if it can end within the budget.
                    cost = (self._connect_timeout or 0.0) if _connect_failure(exc) else 0.0
                    if delay is not None and self._clock() - start + delay + cost <= self.policy.total_timeout:
                        # info, not warning: the error that ends the budget says how many attempts
                        # ran, and a CLI user gets one line, not one per retry.
                        logger.info(
                            "%s %s failed (%s); attempt %d of %d, retrying in %.2f s",
                            op, where, detail, attempt, self.policy.attempts, delay,
                        )  # fmt: skip
                        self._sleep(delay)
                        continue
                    ct = "" if self._connect_timeout is None else f", connect timeout {self._connect_timeout:g} s"
                    msg = (f"{op} {where} failed after {attempt} attempt(s) over {self._clock() - start:.1f} s: "
                           f"{detail} ({self.policy.describe()}{ct})")
                elif kind == NOT_FOUND:
                    msg = f"{op} {where} failed: the bucket or container does not exist ({detail})"
                else:
                    msg = f"{op} {where} failed: {detail}"
                logger.debug("%s", msg)
                raise BackendError(msg, url=self.url, key=key) from exc
