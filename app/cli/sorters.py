"""`wavescope sorters`: list the sorters' environments, build one, or point one at an interpreter.

Each sorter runs in an environment of its own (app.model.sorters), never in Wavescope's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from app import exitcodes

EXAMPLES = """examples:
  wavescope sorters                                   each sorter, its state, its interpreter, versions
  wavescope sorters install spyking-circus            build its venv from the tested requirement set
  wavescope sorters use spyking-circus --python ~/miniconda3/envs/circus/bin/python
  wavescope sorters use spyking-circus --forget       back to the managed venv
  wavescope sorters install mountainsort5             SpikeInterface's venv (mountainsort5, spykingcircus2,
                                                      tridesclous2 share it)
  wavescope sorters params mountainsort5              its default parameters (set them: sort --param K=V)
"""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `sorters` with its actions `list` (default), `install` and `use`."""
    parser = subparsers.add_parser("sorters", help="the sorters' environments: list, install, use an interpreter",
                                   epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.set_defaults(func=cmd_list)
    actions = parser.add_subparsers(dest="action")
    listing = actions.add_parser("list", help="each sorter and its environment (the default)")
    listing.add_argument("--json", action="store_true", help="one JSON object")
    listing.set_defaults(func=cmd_list)
    install = actions.add_parser("install", help="build a sorter's venv from its pinned, tested set")
    install.add_argument("name", help="the sorter (see `wavescope sorters`)")
    install.add_argument("--force", action="store_true", help="rebuild even when it is installed")
    install.set_defaults(func=cmd_install)
    use = actions.add_parser("use", help="run a sorter with an interpreter of yours (a conda env, a module)")
    use.add_argument("name", help="the sorter")
    which = use.add_mutually_exclusive_group(required=True)
    which.add_argument("--python", help="the interpreter that has the sorter installed")
    which.add_argument("--forget", action="store_true", help="forget the interpreter: use the managed venv")
    use.set_defaults(func=cmd_use)
    params = actions.add_parser("params", help="a SpikeInterface sorter's default parameters (sort --param KEY=VALUE)")
    params.add_argument("name", help="the sorter")
    params.add_argument("--json", action="store_true", help="one JSON object (params, descriptions, version)")
    params.set_defaults(func=cmd_params)


def cmd_list(args: argparse.Namespace) -> int:
    from app.model.jobs import sorter_names
    from app.model.sorters import environment
    rows = []
    for name in sorter_names():
        env = environment(name)
        rows.append({"name": name, "state": env.state, "python": str(env.python) if env.python else None,
                     "prefix": str(env.prefix) if env.prefix else None, "versions": env.versions,
                     "note": env.reason})
    if args.json:
        print(json.dumps({"sorters": rows}, indent=1))
        return exitcodes.OK
    for row in rows:
        versions = ", ".join(f"{key} {value}" for key, value in row["versions"].items())
        print(f"{row['name']:<16} {row['state']:<17} {row['prefix'] or '-'}"
              + (f"  ({versions})" if versions else "") + (f"  -- {row['note']}" if row["note"] else ""))
    return exitcodes.OK


def cmd_install(args: argparse.Namespace) -> int:
    from app.model.sorters import INSTALLED, environment, install, sorters_dir, venv_name
    current = environment(args.name)
    if current.state == INSTALLED and not args.force:
        print(f"{args.name}: already installed in {current.prefix} ({_versions(current)}); "
              "--force rebuilds it")
        return exitcodes.OK
    from app.cli.jobs import stop_signals
    print(f"building {args.name}'s environment in {sorters_dir() / venv_name(args.name)} ...", flush=True)
    started = time.perf_counter()
    with stop_signals():            # Ctrl-C, SIGTERM, SIGHUP: the temporary folder is removed
        env = install(args.name, on_line=lambda line: print(line, flush=True), force=args.force)
    print(f"{args.name}: installed in {env.prefix} ({_versions(env)}) in {time.perf_counter() - started:.0f} s",
          flush=True)
    return exitcodes.OK


def cmd_use(args: argparse.Namespace) -> int:
    from app.model.sorters import settings_path, use_python
    versions = use_python(args.name, None if args.forget else args.python)
    if args.forget:
        print(f"{args.name}: the managed environment is used again (recorded in {settings_path()})")
    else:
        shown = ", ".join(f"{key} {value}" for key, value in versions.items())
        print(f"{args.name}: runs with {args.python} ({shown}); recorded in {settings_path()}")
    return exitcodes.OK


def cmd_params(args: argparse.Namespace) -> int:
    from app.model.sort_run import default_params
    found = default_params(args.name)
    if args.json:
        print(json.dumps(found, indent=1))
        return exitcodes.OK
    print(f"# {args.name} {found.get('version') or ''}: default parameters; change one with "
          f"`wavescope sort PARAMS --sorter {args.name} --param KEY=VALUE` (nested: --param group.key=VALUE)")
    notes = found.get("descriptions", {})
    for key, value in found["params"].items():
        note = notes.get(key, "")
        print(f"{key} = {json.dumps(value)}" + (f"    # {note}" if note else ""))
    return exitcodes.OK


def _versions(env) -> str:
    return ", ".join(f"{key} {value}" for key, value in env.versions.items()) or "versions unknown"


if __name__ == "__main__":       # pragma: no cover
    sys.exit("run as `wavescope sorters`")
