"""Finding a repository's test dependencies from its files, as data only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.errors import SandboxError
from bot.sandbox.deps import GENERATED, EnvConfig, find_dependencies


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_repository_without_dependency_files_needs_nothing(tmp_path: Path) -> None:
    """A repository with code only has an empty dependency set."""
    deps = find_dependencies(_write(tmp_path, {"app.py": "x = 1\n"}))
    assert deps.is_empty and deps.files == {}


def test_requirements_files_are_found_at_the_top_and_in_requirements(tmp_path: Path) -> None:
    """requirements*.txt, test-requirements.txt and requirements/*.txt are installed, in order."""
    deps = find_dependencies(_write(tmp_path, {
        "requirements.txt": "attrs\n", "test-requirements.txt": "pytest\n",
        "requirements/dev.txt": "hypothesis\n", "docs/requirements.txt": "sphinx\n"}))
    assert deps.requirement_files == ("requirements.txt", "test-requirements.txt",
                                      "requirements/dev.txt")
    assert b"sphinx" not in b"".join(deps.files.values())


def test_included_files_follow_and_project_lines_are_dropped(tmp_path: Path) -> None:
    """-r and -c files come along; `-e .` and local paths, which need the code, are dropped."""
    deps = find_dependencies(_write(tmp_path, {
        "requirements.txt": "-r base/common.txt\n-c constraints.txt\n-e .\n./sub\nattrs  # x\n"
                            "-e git+https://example.invalid/x.git#egg=x\n",
        "base/common.txt": "-r ../requirements.txt\nsix\n", "constraints.txt": "six<2\n"}))
    assert deps.files["requirements.txt"].decode().splitlines() == [
        "-r base/common.txt", "-c constraints.txt", "attrs",
        "-e git+https://example.invalid/x.git#egg=x"]
    assert deps.files["base/common.txt"] == b"-r ../requirements.txt\nsix\n"
    assert deps.files["constraints.txt"] == b"six<2\n"
    assert any("'-e .'" in note for note in deps.notes)


def test_an_include_outside_the_repository_is_dropped(tmp_path: Path) -> None:
    """A -r that climbs out of the repository is never read."""
    (tmp_path / "outside.txt").write_text("SECRET\n")
    repo = _write(tmp_path / "repo", {"requirements.txt": "-r ../outside.txt\n-r /etc/passwd\n"})
    deps = find_dependencies(repo)
    assert set(deps.files) == {"requirements.txt"}
    assert deps.files["requirements.txt"] == b"\n"
    assert b"SECRET" not in b"".join(deps.files.values())


def test_a_symlinked_requirements_file_is_not_followed(tmp_path: Path) -> None:
    """A requirements file that is a symlink to a host file is skipped with a note."""
    (tmp_path / "host.txt").write_text("SECRET\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements.txt").symlink_to(tmp_path / "host.txt")
    deps = find_dependencies(repo)
    assert deps.is_empty and any("symbolic link" in note for note in deps.notes)


def test_a_local_find_links_folder_brings_only_its_archives(tmp_path: Path) -> None:
    """--find-links wheels copies the folder's archives; --find-links . is refused."""
    repo = _write(tmp_path, {"requirements.txt": "--find-links wheels\n-f .\ntiny\n",
                             "wheels/tiny-1.0-py3-none-any.whl": "zip",
                             "wheels/notes.py": "code", "app.py": "code"})
    deps = find_dependencies(repo)
    assert set(deps.files) == {"requirements.txt", "wheels/tiny-1.0-py3-none-any.whl"}
    assert deps.files["requirements.txt"] == b"--find-links wheels\ntiny\n"


def test_pyproject_dependencies_and_test_extras_are_read(tmp_path: Path) -> None:
    """[project] dependencies, test/dev extras and groups, with self-references expanded."""
    deps = find_dependencies(_write(tmp_path, {"pyproject.toml": """
[project]
name = "My_Pkg"
dependencies = ["attrs>=22"]
[project.optional-dependencies]
test = ["pytest>=8", "my-pkg[fast]"]
fast = ["orjson"]
docs = ["sphinx"]
[dependency-groups]
dev = ["ruff", {include-group = "lint"}]
lint = ["mypy"]
"""}))
    assert deps.requirement_files == (GENERATED,)
    assert deps.files[GENERATED].decode().splitlines() == [
        "attrs>=22", "pytest>=8", "ruff", "orjson", "mypy"]


def test_setup_cfg_requirements_are_read(tmp_path: Path) -> None:
    """setup.cfg install_requires and the testing extra are installed; setup.py is not run."""
    deps = find_dependencies(_write(tmp_path, {
        "setup.cfg": "[metadata]\nname = x\n[options]\ninstall_requires =\n    attrs\n"
                     "    six; python_version<'4'\n[options.extras_require]\ntesting =\n"
                     "    pytest\ndocs = sphinx\n",
        "setup.py": "raise SystemExit('never run')\n"}))
    assert deps.files[GENERATED].decode().splitlines() == [
        "attrs", "six; python_version<'4'", "pytest"]


def test_setup_py_alone_is_a_note_not_a_run(tmp_path: Path) -> None:
    """A setup.py without a setup() call gives no dependencies and a note saying where to."""
    deps = find_dependencies(_write(tmp_path, {"setup.py": "import os; os.system('x')\n"}))
    assert deps.is_empty and any("never run" in note for note in deps.notes)


def test_setup_py_literals_are_read_never_run(tmp_path: Path) -> None:
    """install_requires (a list or a module-level name), tests_require and the test extras of
    setup() are read with ast; the file is not run."""
    deps = find_dependencies(_write(tmp_path, {"setup.py": """
import sys
from setuptools import setup
sys.exit("never run")
requires = ["urllib3>=1.21,<3", "idna"]
setup(name="webby", install_requires=requires, tests_require=("pytest-mock",),
      extras_require={"test": ["pytest>=8"], "docs": ["sphinx"], "socks": ["PySocks"]})
"""}))
    assert deps.requirement_files == (GENERATED,)
    assert deps.files[GENERATED].decode().splitlines() == [
        "urllib3>=1.21,<3", "idna", "pytest>=8", "pytest-mock"]


def test_setup_py_computed_values_are_a_note(tmp_path: Path) -> None:
    """A value computed at run time cannot be read without running it: noted, left out."""
    deps = find_dependencies(_write(tmp_path, {"setup.py": """
from setuptools import setup
setup(name="x", install_requires=open("reqs.txt").read().splitlines(),
      tests_require="pytest")
"""}))
    assert deps.files[GENERATED].decode().splitlines() == ["pytest"]
    assert any("install_requires is computed" in note for note in deps.notes)


def test_setup_py_in_python_2_is_a_note(tmp_path: Path) -> None:
    """A setup.py that does not parse as Python 3 is noted, and nothing else breaks."""
    deps = find_dependencies(_write(tmp_path, {"setup.py": "print 'old'\n",
                                               "requirements.txt": "attrs\n"}))
    assert deps.requirement_files == ("requirements.txt",)
    assert any("does not parse" in note or "not Python 3" in note for note in deps.notes)


def test_a_configured_setup_command_and_extra_files(tmp_path: Path) -> None:
    """A configured setup command runs in the build with the extra files it names."""
    repo = _write(tmp_path, {"ci/deps.sh": "pip install attrs\n"})
    deps = find_dependencies(repo, EnvConfig(setup_command="sh ci/deps.sh",
                                             extra_files=("ci/deps.sh",)))
    assert not deps.is_empty and deps.files == {"ci/deps.sh": b"pip install attrs\n"}


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "", "."])
def test_an_extra_file_outside_the_repository_is_refused(tmp_path: Path, rel: str) -> None:
    """Extra files must be paths inside the repository."""
    with pytest.raises(SandboxError, match="inside the repository"):
        find_dependencies(tmp_path, EnvConfig(extra_files=(rel,)))


def test_bad_metadata_is_a_clear_error(tmp_path: Path) -> None:
    """An invalid pyproject.toml names the file."""
    with pytest.raises(SandboxError, match=r"pyproject\.toml is not valid TOML"):
        find_dependencies(_write(tmp_path, {"pyproject.toml": "[project\n"}))


def test_dependencies_that_are_not_a_list_are_a_clear_error(tmp_path: Path) -> None:
    """A malformed dependency table says which."""
    with pytest.raises(SandboxError, match="not a list"):
        find_dependencies(_write(tmp_path, {"pyproject.toml": "[project]\ndependencies = 3\n"}))


def test_dynamic_dependencies_are_noted(tmp_path: Path) -> None:
    """Dynamic dependencies cannot be read as data, and the note says what to do."""
    deps = find_dependencies(_write(tmp_path, {
        "pyproject.toml": "[project]\nname='x'\ndynamic = ['dependencies']\n"}))
    assert deps.is_empty and any("dynamic" in note for note in deps.notes)


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    """The repository folder must exist."""
    with pytest.raises(SandboxError, match="not a directory"):
        find_dependencies(tmp_path / "nope")


def test_an_oversized_requirements_file_is_refused(tmp_path: Path) -> None:
    """A huge dependency file is an error, not a memory hog."""
    with open(tmp_path / "requirements.txt", "wb") as handle:
        handle.truncate(2 << 20)
    with pytest.raises(SandboxError, match="larger than"):
        find_dependencies(tmp_path)


def test_a_fifo_named_like_a_requirements_file_is_skipped(tmp_path: Path) -> None:
    """Only regular files are read; a fifo never blocks the host."""
    os.mkfifo(tmp_path / "requirements.txt")
    assert find_dependencies(tmp_path).is_empty


def test_installing_the_project_with_extras_asks_for_their_dependencies(tmp_path: Path) -> None:
    """`-e .[socks]` is dropped (the code is not installed) but the socks extra's are kept."""
    deps = find_dependencies(_write(tmp_path, {
        "requirements/dev.txt": "-e ..[socks]\npytest\n",
        "setup.py": 'from setuptools import setup\nsetup(name="web", install_requires=["idna"],'
                    ' extras_require={"socks": ["PySocks"], "docs": ["sphinx"]})\n'}))
    assert deps.requirement_files == ("requirements/dev.txt", GENERATED)
    assert deps.files["requirements/dev.txt"] == b"pytest\n"
    assert deps.files[GENERATED].decode().splitlines() == ["idna", "PySocks"]
