"""Exception types. They are created by the C core so that both layers raise
the same classes."""

from .._core import DeviceUnavailableError, UnsupportedError

__all__ = ["UnsupportedError", "DeviceUnavailableError"]
