"""The exceptions the connectors raise.

LCM catches N2VC's ``K8sException``. When N2VC's class can be imported (``osm_lcm.n2vc.exceptions`` in newer
LCM images, ``n2vc.exceptions`` in older ones) the connectors raise that very class, so ``except K8sException``
in LCM keeps working; otherwise they raise this package's class of the same name.
"""

from __future__ import annotations

try:  # pragma: no cover - depends on what is installed
    from osm_lcm.n2vc.exceptions import K8sException  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    try:
        from n2vc.exceptions import K8sException  # type: ignore[import-not-found,no-redef]
    except ImportError:

        class K8sException(Exception):  # type: ignore[no-redef]
            """N2VC's Kubernetes connector error: ``str(e)`` and ``e.message`` are the message."""

            def __init__(self, message: str = ""):
                super().__init__(message)
                self.message = message

            def __str__(self) -> str:
                return self.message


class KduException(K8sException):
    """An error of the kdu server or of reaching it. It is a ``K8sException``.

    ``code`` is kdu's error code (``not_found``, ``invalid``, ``exists``, ``timeout``, ``unreachable`` …, see
    the API's error codes), ``field`` names the input at fault when there is one, ``status`` is the HTTP status
    (0 when the server was not reached) and ``operation`` the kdu operation (a dict) when one had been queued.
    """

    def __init__(self, message: str, *, code: str = "", field: str = "", status: int = 0,
                 operation: dict | None = None):
        K8sException.__init__(self, message)
        # N2VC's class keeps the message in different attributes across versions: set both.
        self.message = message
        self._message = message
        self.code = code
        self.field = field
        self.status = status
        self.operation = operation

    def __str__(self) -> str:
        return self.message


def invalid(field: str, reason: str) -> KduException:
    """A bad argument, refused before anything is sent: the message names the argument and why."""
    return KduException(f"{field}: {reason}", code="invalid", field=field)
