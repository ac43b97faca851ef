"""Exceptions raised by vtp. Messages name the field, the value and what is allowed."""


class VtpError(Exception):
    """Base class of every error vtp raises on purpose."""


class SpecError(VtpError, ValueError):
    """A payload (worker pool, scheduling, study spec...) that Vertex would reject."""

    def __init__(self, field: str, value: object, allowed: str):
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field} {allowed}, got {value!r}")


class RemoteError(VtpError, RuntimeError):
    """A remote service (Vertex AI, a template registry) refused a request or could not be
    reached: the command failed (exit code 1), where bad input is exit code 2."""


class DataError(VtpError, ValueError):
    """Input data that cannot be loaded or split."""


class JobError(VtpError, RuntimeError):
    """A local training job (or one of its replicas) that failed."""


class RegistryError(VtpError, RuntimeError):
    """A model registry operation that cannot be carried out."""
