"""Google-style API errors answered by the Vertex AI stand-in."""

from __future__ import annotations

from typing import Any

#: Canonical gRPC status names by the HTTP status Google's REST APIs answer with.
STATUS = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
}


class ApiError(Exception):
    """An API error, answered as `{"error": {"code", "message", "status"}}`."""

    def __init__(self, code: int, message: str, status: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS.get(code, "UNKNOWN")

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def invalid(field_name: str, value: object, allowed: str) -> ApiError:
    """400 INVALID_ARGUMENT naming the field, the value and what is allowed."""
    return ApiError(400, f"{field_name} {allowed}, got {value!r}")


def precondition(message: str) -> ApiError:
    """400 FAILED_PRECONDITION: the resource is not in a state that allows the call."""
    return ApiError(400, message, "FAILED_PRECONDITION")


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")
