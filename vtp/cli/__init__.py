"""The `vtp` command: argument parsing, one module per command, and what it prints."""
