"""Run inside an image: every Leviathan console script answers ``--help`` and every
module its entry points can load imports.

"Can load" is the closure of the service packages whose scripts the image ships
(every module in them) over their ``import`` statements into other Leviathan
packages, those inside functions included, so lazy imports are covered too. A
shared module that no service in the image uses is not imported: the image need
not carry its dependencies. Alembic's ``env.py`` runs only under Alembic, so
migrations are checked by running ``leviathan-control-plane migrate`` instead.

Piped to ``python -`` in a container started from the image under test (read-only
root, no capabilities, the image's own user), so it sees exactly what the image
ships: the virtualenv, the system packages (git) and the environment. Extra
commands to run come as one JSON argument (a list of argv lists). Prints one JSON
object: ``{"checked": [...], "failed": [{"what", "error"}]}``.
"""

import ast
import importlib
import importlib.util
import json
import pkgutil
import subprocess
import sys
import traceback
from importlib.metadata import distributions


def leviathan_distributions() -> list:
    """The installed Leviathan packages (shared and the services in this image)."""
    return [d for d in distributions() if (d.metadata["Name"] or "").startswith("leviathan")]


def imported_modules(path: str) -> set:
    """Leviathan modules named by the import statements of one source file."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {n for n in names if n.startswith("leviathan") and is_module(n)}


def is_module(name: str) -> bool:
    """``from pkg.mod import Name`` names ``pkg.mod.Name`` too: keep only modules."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def module_closure(roots: set) -> list:
    """Every module of ``roots`` plus every Leviathan module they import, transitively."""
    todo = []
    for name in roots:
        package = importlib.import_module(name)
        todo.append(name)
        todo += [i.name for i in pkgutil.walk_packages(package.__path__, name + ".")]
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen or ".migrations" in name:
            continue
        seen.add(name)
        spec = importlib.util.find_spec(name)
        if spec and spec.origin and spec.origin.endswith(".py"):
            todo += sorted(imported_modules(spec.origin) - seen)
    return sorted(seen)


def main() -> None:
    extra = json.loads(sys.argv[1]) if len(sys.argv) > 1 else []
    checked, failed = [], []

    def attempt(what: str, fn) -> None:
        try:
            fn()
            checked.append(what)
        except BaseException:
            failed.append({"what": what, "error": traceback.format_exc(limit=3)[-2000:]})

    def run(argv: list) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {(done.stderr or done.stdout)[-1500:]}")

    services = set()
    for dist in leviathan_distributions():
        scripts = [ep for ep in dist.entry_points if ep.group == "console_scripts"]
        for ep in scripts:
            attempt(f"load {ep.name} ({ep.value})", ep.load)
            attempt(f"{ep.name} --help", lambda n=ep.name: run([n, "--help"]))
            services.add(ep.value.split(":")[0].split(".")[0])
    for name in module_closure(services):
        attempt(f"import {name}", lambda m=name: importlib.import_module(m))
    for argv in extra:
        attempt(" ".join(argv), lambda a=argv: run(a))
    print(json.dumps({"checked": checked, "failed": failed}))


main()
