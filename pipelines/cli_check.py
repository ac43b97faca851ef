"""`vtp check` (being built)."""


def register(sub, home) -> None:
    """Adds nothing yet."""
