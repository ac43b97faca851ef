"""`vtp config`: the configuration in effect, and where each value came from."""

from __future__ import annotations

import argparse
import json

DESCRIPTION = """\
Print the configuration every vtp command reads: each key's value and where it came from
(a flag, an environment variable, the file, or the default).

The file is $VTP_CONFIG, else the first `vtp.toml`, or `pyproject.toml` with a [tool.vtp]
table, found walking up from the working directory. Flags override the environment, which
overrides the file, which overrides the defaults."""


def register(sub, home) -> None:
    """Adds `vtp config`."""
    from vtp.config import KEYS

    p = sub.add_parser(
        "config",
        parents=[home],
        help="print the configuration in effect and where each value came from",
        description=DESCRIPTION,
        epilog=_keys_table(KEYS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for key in KEYS.values():
        if key.flag and key.flag not in ("--home", "--out"):
            p.add_argument(key.flag, metavar="VALUE", help=f"{key.about} (flag over the rest)")
    p.add_argument("--json", action="store_true", help="print the values and sources as JSON")
    p.set_defaults(handler=run)


def _keys_table(keys) -> str:
    lines = ["keys (environment variable):"]
    for key in keys.values():
        env = f" (${key.env})" if key.env else ""
        lines.append(f"  {key.name}{env}: {key.about}")
    return "\n".join(lines)


def run(args) -> int:
    config = args.config
    if args.json:
        data = {
            "file": str(config.path) if config.path else None,
            "values": {
                k: {"value": s.value, "source": s.source} for k, s in config.settings.items()
            },
        }
        print(json.dumps(data, indent=2))
        return 0
    print(f"file  {config.path or '(none: defaults and environment only)'}")
    rows = []
    for name, setting in config.settings.items():
        value = setting.value
        if isinstance(value, dict):
            if not value:
                rows.append((name, "{}", setting.source))
            for i, (k, v) in enumerate(value.items()):
                shown = " ".join(v) if isinstance(v, list) else v
                rows.append((f"{name}.{k}", shown, setting.source if i == 0 else ""))
        else:
            rows.append((name, "(unset)" if value is None else str(value), setting.source))
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    for name, value, source in rows:
        print(f"{name:<{width}}  {value:<{vwidth}}  {source}".rstrip())
    return 0
