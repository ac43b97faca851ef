"""Sample datasets shipped with vtp (`vtp.sample_data`), read with `importlib.resources`."""
