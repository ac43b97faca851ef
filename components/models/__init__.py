"""Model upload, registry lookup and gates."""
