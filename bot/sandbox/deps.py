"""Finding a repository's test dependencies from its files, without running any of its code.

Read as data only: requirements files (`*requirements*.txt` at the top, `requirements/*.txt`,
and the files they name with -r/-c), `pyproject.toml` ([project] dependencies, the test/dev
optional dependencies and dependency groups), and `setup.cfg` (install_requires and the test/dev
extras_require). `setup.py` is never run on the host. Files are read without following a symlink,
and nothing outside the repository is read. What a build needs is returned as a build context:
the dependency files (requirement lines that install the repository itself removed, since its code
never enters the build) plus one generated requirements file for the metadata's dependencies.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from bot.errors import SandboxError

GENERATED = ".selfmod/requirements.txt"
DEFAULT_EXTRAS = ("test", "tests", "testing", "dev")
_MAX_FILE_BYTES = 1 << 20
_MAX_CONTEXT_BYTES = 256 << 20
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_INCLUDE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")
_EDITABLE_OPTIONS = ("-e", "--editable")
_FIND_LINKS_OPTIONS = ("-f", "--find-links")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2")


@dataclass(frozen=True)
class EnvConfig:
    """What a repository's config adds: a setup command, the extras to install, extra files."""

    setup_command: str | None = None
    extras: tuple[str, ...] = DEFAULT_EXTRAS
    extra_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class DependencySet:
    """A build context of dependency files and how to install them."""

    files: dict[str, bytes] = field(default_factory=dict)
    requirement_files: tuple[str, ...] = ()
    setup_command: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        """Tell whether there is nothing to install."""
        return not self.requirement_files and not self.setup_command


def find_dependencies(root: Path, config: EnvConfig | None = None) -> DependencySet:
    """Return the repository's test dependencies as a build context."""
    config = config or EnvConfig()
    if not root.is_dir():
        raise SandboxError(f"repository folder {root} is not a directory")
    finder = _Finder(root.resolve())
    top = sorted(n for n in os.listdir(finder.root) if re.fullmatch(r".*requirements.*\.txt", n))
    nested = (sorted(f"requirements/{n}" for n in os.listdir(finder.root / "requirements")
                     if n.endswith(".txt"))
              if _is_real_dir(finder.root / "requirements") else [])
    requirement_files = [rel for rel in [*top, *nested] if finder.add_requirements(rel)]
    extras = tuple(dict.fromkeys([*config.extras, *finder.own_extras]))
    lines = [*finder.from_pyproject(extras), *finder.from_setup_cfg(extras),
             *finder.from_setup_py(extras)]
    if lines:
        finder.files[GENERATED] = ("\n".join(dict.fromkeys(lines)) + "\n").encode()
        requirement_files.append(GENERATED)
    for rel in config.extra_files:
        finder.add_file(_clean(rel, "extra file"))
    return DependencySet(files=dict(sorted(finder.files.items())),
                         requirement_files=tuple(requirement_files),
                         setup_command=config.setup_command, notes=tuple(finder.notes))


class _Finder:
    """The files collected so far, read from inside one repository only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, bytes] = {}
        self.notes: list[str] = []
        self.own_extras: list[str] = []  # extras a requirements file installs the project with
        self._size = 0

    def read(self, rel: str, limit: int = _MAX_FILE_BYTES) -> bytes | None:
        """Return a regular file's bytes, or None when absent, a link, or under a link."""
        path = self.root
        for part in PurePosixPath(rel).parts:
            path = path / part
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return None
            if stat.S_ISLNK(st.st_mode):
                self.notes.append(f"{rel}: skipped, a symbolic link is on its path")
                return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_size > limit:
                raise SandboxError(f"{rel}: larger than {limit} bytes")
            data = handle.read(limit + 1)
        self._size += len(data)
        if self._size > _MAX_CONTEXT_BYTES:
            raise SandboxError(f"the dependency files exceed {_MAX_CONTEXT_BYTES} bytes")
        return data

    def add_file(self, rel: str, limit: int = _MAX_FILE_BYTES) -> bool:
        """Put one repository file into the context as it is."""
        if rel in self.files:
            return True
        data = self.read(rel, limit)
        if data is None:
            return False
        self.files[rel] = data
        return True

    def add_requirements(self, rel: str) -> bool:
        """Put a requirements file (and what it includes) into the context, project lines out."""
        if rel in self.files:
            return True
        data = self.read(rel)
        if data is None:
            return False
        self.files[rel] = b""  # placeholder first: an include cycle stops here
        kept = [line for line in _logical_lines(data.decode("utf-8", "replace"))
                if self._keep_line(rel, line)]
        self.files[rel] = ("\n".join(kept) + "\n").encode()
        return True

    def _keep_line(self, rel: str, line: str) -> bool:
        option, _, value = line.partition(" ")
        if "=" in option and option.startswith("--"):
            option, _, value = option.partition("=")
        value = value.strip()
        here = PurePosixPath(rel).parent
        if option in _INCLUDE_OPTIONS:
            target = _inside(here, value)
            if target is None or not self.add_requirements(target):
                self.notes.append(f"{rel}: dropped {line!r} (missing or outside the repository)")
                return False
            return True
        if option in _FIND_LINKS_OPTIONS:
            return _URL.match(value) is not None or self._add_folder(rel, here, value, line)
        requirement = value if option in _EDITABLE_OPTIONS else line
        if requirement.startswith("-"):
            return True
        if _is_local_path(requirement):
            self.notes.append(f"{rel}: dropped {line!r}: the repository's code is not installed")
            # Its dependencies still are: `-e .[socks]` asks for those of the socks extra too.
            if _inside(here, requirement.partition("[")[0]) == "":
                extras = re.search(r"\[([^\]]*)\]", requirement)
                self.own_extras.extend(
                    x.strip() for x in (extras.group(1) if extras else "").split(",") if x.strip())
            return False
        return True

    def _add_folder(self, rel: str, here: PurePosixPath, value: str, line: str) -> bool:
        """Put a local --find-links folder's files into the context."""
        target = _inside(here, value)
        # Never the top folder: only a folder of archives, never the repository's code.
        if not target or not _is_real_dir(self.root / target):
            self.notes.append(f"{rel}: dropped {line!r} (missing, outside the repository, "
                              "or its top folder)")
            return False
        for name in sorted(os.listdir(self.root / target)):
            if name.endswith(_ARCHIVES):
                self.add_file(f"{target}/{name}", limit=_MAX_CONTEXT_BYTES)
        return True

    def from_pyproject(self, extras: tuple[str, ...]) -> list[str]:
        """Return the dependencies that pyproject.toml declares as data."""
        data = self.read("pyproject.toml")
        if data is None:
            return []
        try:
            doc = tomllib.loads(data.decode("utf-8", "replace"))
        except tomllib.TOMLDecodeError as exc:
            raise SandboxError(f"pyproject.toml is not valid TOML: {exc}") from None
        project = doc.get("project") if isinstance(doc.get("project"), dict) else {}
        assert isinstance(project, dict)
        if "dependencies" in project.get("dynamic", ()):
            self.notes.append("pyproject.toml: dynamic dependencies are not read: "
                              "configure a setup command")
        groups: dict[str, object] = dict(_table(project, "optional-dependencies"))
        groups.update(_table(doc, "dependency-groups"))
        groups[""] = project.get("dependencies", [])
        return _expand(str(project.get("name", "")), groups, ("", *extras), "pyproject.toml")

    def from_setup_py(self, extras: tuple[str, ...]) -> list[str]:
        """Return the dependencies the `setup()` call of setup.py gives as literals.

        Parsed, never run: a value computed at run time is left out, with a note.
        """
        data = self.read("setup.py")
        if data is None:
            return []
        try:
            tree = ast.parse(data)
        except (SyntaxError, ValueError):
            self.notes.append("setup.py: not Python 3 that parses; its dependencies are unread")
            return []
        call = _setup_call(tree)
        if call is None:
            self.notes.append("setup.py is never run and calls no setup(): list the "
                              "dependencies in a requirements file, pyproject.toml or setup.cfg, "
                              "or configure a setup command")
            return []
        # Module-level `name = <literal>` assignments a keyword may refer to (the last wins).
        names = {target.id: stmt.value for stmt in tree.body if isinstance(stmt, ast.Assign)
                 for target in stmt.targets if isinstance(target, ast.Name)}
        groups: dict[str, object] = {}
        project = ""
        computed = False
        for keyword in call.keywords:
            key = keyword.arg
            if key not in ("name", "extras_require", *_SETUP_GROUPS):
                continue
            try:
                value = _literal(keyword.value, names)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                if key != "name":
                    computed = True
                    self.notes.append(f"setup.py: {key} is computed when it runs, which it "
                                      "never does here: list those in a requirements file, "
                                      "or configure a setup command")
                continue
            if key == "name":
                project = value if isinstance(value, str) else ""
            elif key == "extras_require" and isinstance(value, dict):
                groups.update({str(k): _requirement_list(v) for k, v in value.items()})
            elif key in _SETUP_GROUPS:
                groups[_SETUP_GROUPS[key]] = _requirement_list(value)
        found = _expand(project, groups, ("", *extras), "setup.py")
        if not groups and not computed:
            self.notes.append("setup.py is never run: its setup() call gives no dependencies "
                              "as literals; list them in a requirements file, pyproject.toml "
                              "or setup.cfg, or configure a setup command")
        return found

    def from_setup_cfg(self, extras: tuple[str, ...]) -> list[str]:
        """Return the dependencies that setup.cfg declares as data."""
        data = self.read("setup.cfg")
        if data is None:
            return []
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(data.decode("utf-8", "replace"))
        except configparser.Error as exc:
            raise SandboxError(f"setup.cfg cannot be read: {exc.message}") from None
        groups: dict[str, object] = {"": parser.get("options", "install_requires", fallback="")}
        if parser.has_section("options.extras_require"):
            groups.update(parser.items("options.extras_require"))
        name = parser.get("metadata", "name", fallback="")
        lists = {key: value.splitlines() if isinstance(value, str) else value
                 for key, value in groups.items()}
        return _expand(name, lists, ("", *extras), "setup.cfg")


_SETUP_GROUPS = {"install_requires": "", "tests_require": "tests"}


def _setup_call(tree: ast.Module) -> ast.Call | None:
    """Return the `setup(...)` (or `setuptools.setup(...)`) call of a setup.py."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else (
                func.attr if isinstance(func, ast.Attribute) else "")
            if name == "setup":
                return node
    return None


def _requirement_list(value: object) -> list[str]:
    """Return setup()'s requirements as a list of lines (setuptools also takes one string)."""
    if isinstance(value, str):
        return value.splitlines()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return []


def _literal(node: ast.expr, names: dict[str, ast.expr]) -> object:
    """Return a literal value, following one module-level name; raise ValueError otherwise."""
    if isinstance(node, ast.Name) and node.id in names:
        node = names[node.id]
    value = ast.literal_eval(node)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
    return value


def _expand(project: str, groups: dict[str, object], wanted: tuple[str, ...],
            source: str) -> list[str]:
    """Return the requirement lines of the wanted groups; a self-reference adds its extras."""
    own = _normalize(project)
    out: list[str] = []
    queue, seen = list(wanted), set()
    while queue:
        group = queue.pop(0)
        if group in seen or group not in groups:
            continue
        seen.add(group)
        entries = groups[group]
        if not isinstance(entries, list):
            raise SandboxError(f"{source}: dependencies of {group or 'the project'} are not a list")
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("include-group"), str):
                queue.append(entry["include-group"])
                continue
            if not isinstance(entry, str):
                raise SandboxError(f"{source}: {entry!r} is not a requirement")
            line = entry.split("#", 1)[0].strip()
            match = _NAME.match(line)
            if match and own and _normalize(match.group(1)) == own:
                queue.extend(x.strip() for x in (match.group(2) or "").split(",") if x.strip())
            elif line:
                out.append(line)
    return out


def _table(doc: dict[str, object], key: str) -> dict[str, object]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _logical_lines(text: str) -> list[str]:
    """Return a requirements file's lines with continuations joined and comments removed."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = pending + raw
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            out.append(line)
    if pending.strip():
        out.append(pending.strip())
    return out


def _is_local_path(requirement: str) -> bool:
    """Tell whether a requirement names a local folder or file rather than a distribution."""
    if requirement.startswith(("file:", ".", "/", "~")):
        return True
    if _URL.match(requirement):
        return False  # a VCS or archive URL: fetched in the build, never the local code
    name = requirement.split(";", 1)[0].split("@", 1)[0].strip()
    return "/" in name or name.endswith(_ARCHIVES)


def _inside(here: PurePosixPath, value: str) -> str | None:
    """Return `value` relative to the repository top, or None when it leaves the repository."""
    if not value or value.startswith(("/", "~")) or _URL.match(value):
        return None
    parts: list[str] = []
    for part in (here / value).parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _clean(rel: str, what: str) -> str:
    cleaned = _inside(PurePosixPath(), rel)
    if not cleaned:
        raise SandboxError(f"{what} {rel!r} is not a path inside the repository")
    return cleaned


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()
