"""The kernels/ sources a generated module's machine code depends on, as one content hash.

Why: Numba's disk cache keys a function by its own file only, and links the code of every
function it calls (``vm.tanh_f32``, ``lib.matmul``...) into the cached machine code. An edit
to ``kernels/vmath`` would therefore leave old code in the cache. The cache key of a
generated module (kernels.cache.source_key) mixes in the hash computed here: the bytes of
every kernels/ module the generated text imports, followed through their own imports
(relative or absolute, at any depth, lazy ones included) and their packages' ``__init__``.
Files are read and hashed once per process.
"""
from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

#: The package generated code imports from: this module's own package, by the name it was
#: imported under (the back end is a subpackage when installed); its directory is where the files are read.
PACKAGE = __name__.rpartition(".")[0]
PACKAGE_ROOT = Path(__file__).resolve().parent

_NAME = re.escape(PACKAGE) + r"(?:\.\w+)*"
_IMPORT_LINE = re.compile(rf"^[ \t]*(?:from[ \t]+({_NAME})[ \t]+import[ \t]+\(?([^\n#)]+)"
                          rf"|import[ \t]+({_NAME}))", re.M)


def _in_package(name: str) -> bool:
    """Whether dotted `name` is the back-end package or something inside it."""
    return name == PACKAGE or name.startswith(PACKAGE + ".")


def imported_modules(source: str) -> frozenset:
    """Dotted names of the kernels modules a generated module's text imports."""
    found = set()
    for package, names, module in _IMPORT_LINE.findall(source):
        if module:
            found.add(module)
            continue
        found.add(package)
        for name in names.split(","):
            word = name.strip().split(" ")[0]
            if word and word != "*":
                found.add(f"{package}.{word}")
    return frozenset(found)


@functools.lru_cache(maxsize=None)
def module_file(name: str, root: Path = PACKAGE_ROOT) -> Path | None:
    """The file of kernels module `name` under `root` (None: not a module, e.g. a function).
    Remembered: a module's name and every package above it are looked up once per import
    that names them (~500 lookups, 10 ms of a warm first call, before)."""
    if not _in_package(name):
        return None
    parts = name[len(PACKAGE) + 1:].split(".") if name != PACKAGE else []
    base = root.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py") if parts else None):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


# One import statement (at any indentation: lazy imports count too): `import a.b`, or
# `from X import names` with X absolute or relative and names possibly in parentheses.
_STATEMENT = re.compile(r"^[ \t]*(?:import[ \t]+([\w.]+)|from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+"
                        r"(\([^)]*\)|[^\n#]+))", re.M)


@functools.lru_cache(maxsize=None)
def _file_facts(path: Path, root: Path) -> tuple[str, tuple]:
    """(sha256 of the file, the kernels modules its code imports) -- read once per process.
    (Imports are found with a regular expression, not ast: parsing every file costs ~0.1 s.)"""
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    rel = path.relative_to(root).with_suffix("").parts
    is_package = rel[-1] == "__init__"
    module = ".".join((PACKAGE, *(rel[:-1] if is_package else rel)))
    return digest, tuple(sorted(_imports_of(data.decode("utf-8", "replace"), module, is_package)))


def _imports_of(text: str, module: str, is_package: bool) -> set:
    """Dotted kernels names (modules or attributes of them) that a module's code imports."""
    here = module if is_package else module.rsplit(".", 1)[0]
    out = set()
    for absolute, source, names in _STATEMENT.findall(text):
        if absolute:
            out.update(n for n in (p.strip() for p in absolute.split(",")) if _in_package(n))
            continue
        level = len(source) - len(source.lstrip("."))
        name = source[level:]
        if level:
            base = here.rsplit(".", level - 1)[0] if level > 1 else here
            target = f"{base}.{name}" if name else base
        else:
            target = name
        if not _in_package(target):
            continue
        out.add(target)
        for item in names.strip("() \t\n").split(","):
            word = item.strip().split(" ")[0]
            if word and word != "*":
                out.add(f"{target}.{word}")
    return out


@functools.lru_cache(maxsize=256)
def dependency_files(modules: frozenset, root: Path = PACKAGE_ROOT) -> tuple[Path, ...]:
    """Every file under `root` that importing `modules` executes, sorted."""
    seen: set = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for depth in range(PACKAGE.count(".") + 1, len(parts) + 1):  # the module and each package above it
            path = module_file(".".join(parts[:depth]), root)
            if path is None or path in seen:
                continue
            seen.add(path)
            todo.extend(_file_facts(path, root)[1])
    return tuple(sorted(seen))


@functools.lru_cache(maxsize=256)
def _digest_of(modules: frozenset, root: Path) -> str:
    h = hashlib.sha256()
    for path in dependency_files(modules, root):
        h.update(f"{path.relative_to(root).as_posix()}:{_file_facts(path, root)[0]}\n".encode())
    return h.hexdigest()


def dependency_digest(source: str, root: Path = PACKAGE_ROOT) -> str:
    """Hash of the kernels/ files the generated `source` depends on ('' when it imports none)."""
    modules = imported_modules(source)
    return _digest_of(modules, root) if modules else ""
