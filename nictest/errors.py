"""One exception hierarchy for nictest; every message says what to do next.

This module runs on the controller and inside the host agent (Python >= 3.9,
standard library only). Errors cross the agent protocol by class name, so the
controller re-raises the same type the host raised.
"""
from __future__ import annotations


class NictestError(Exception):
    """Base of every error nictest raises on purpose."""


class InventoryError(NictestError):
    """hosts.toml is missing, malformed, or names an unknown host."""


class HostUnreachable(NictestError):
    """The controller could not reach a host or its agent."""


class HostKeyError(NictestError):
    """An SSH host key is unknown or changed: never accepted silently."""


class PrerequisiteMissing(NictestError):
    """The host lacks something nictest needs (package, module, privilege)."""


class AgentError(NictestError):
    """The agent failed in a way it did not classify; carries its message."""


class ProtocolError(NictestError):
    """A request or reply on the agent channel was malformed."""


class PciAddressError(NictestError, ValueError):
    """A PCI address that is not DDDD:BB:DD.F (or BB:DD.F)."""


class DeviceNotFound(NictestError):
    """No PCI device at that address on the host."""


class ProfileError(NictestError):
    """A qualification profile file is malformed, or two profiles claim the same device."""


class RefusedError(NictestError):
    """A safety check refused an operation before anything was touched."""


class BindError(NictestError):
    """A bind or restore step failed; the message says what state was left."""


class JournalError(NictestError):
    """The on-host binding journal could not be read or written."""


class DeviceHeld(NictestError):
    """Another agent or session holds the device's lock."""


class UdevTimeout(NictestError):
    """An expected udev event did not arrive in time."""


class StateError(NictestError):
    """A lifecycle step was asked for in a state that does not allow it."""


class PmdError(NictestError):
    """The C poll-mode driver returned -errno from an operation."""

    def __init__(self, op: str, errno: int, message: str = "") -> None:
        self.op = op
        self.errno = errno
        super().__init__(message or f"{op} failed: errno {errno}")


class LabError(NictestError):
    """The bundled QEMU lab could not be built, booted or stopped."""


class ReportError(NictestError):
    """The HTML report could not be generated (no results, or allure failed)."""


def by_name(name: str) -> type:
    """The NictestError subclass called `name`, or AgentError if unknown."""
    cls = globals().get(name)
    if isinstance(cls, type) and issubclass(cls, NictestError):
        return cls
    return AgentError
