"""The project's exception tree: one base, a few branches, caught narrowly."""


class SelfmodError(Exception):
    """Base of every error selfmod raises on purpose."""


class ConfigError(SelfmodError):
    """A setting is missing or malformed; the message names the variable."""


class PermanentJobError(SelfmodError):
    """A job failed in a way no retry can mend; it is dead-lettered at once."""


class StorageError(SelfmodError):
    """The database is unreachable, un-migrated or inconsistent."""


class SchemaNotReadyError(StorageError):
    """The database schema is missing or older than this code."""


class SandboxError(SelfmodError):
    """The sandbox could not run a command (not: the command failed)."""


class DockerUnavailableError(SandboxError):
    """The Docker engine does not answer; the job should be retried later."""


class GitError(SelfmodError):
    """A git command failed; the message never carries a token."""


class GitHubError(SelfmodError):
    """A GitHub API call failed for good."""


class AnalysisError(SelfmodError):
    """A codebase could not be analysed."""


class RepoConfigError(AnalysisError):
    """The repository's selfmod.yml is invalid; the message names the key and line."""


class GenerationError(SelfmodError):
    """A change could not be generated; the message says which precondition failed."""
