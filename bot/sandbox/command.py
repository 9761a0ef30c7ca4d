"""`selfmod sandbox exec|build-image|build-env`: the sandbox by hand."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from importlib import resources
from pathlib import Path

from bot.errors import SandboxError
from bot.sandbox.connect import DEFAULT_DOCKER_HOST, open_docker
from bot.sandbox.deps import EnvConfig
from bot.sandbox.envimage import EnvImageBuilder
from bot.sandbox.limits import SandboxLimits, parse_size
from bot.sandbox.runner import SandboxRequest, SandboxRunner
from bot.settings import Settings

EXIT_USAGE = 2
BUILD_SCRIPT = "build-sandbox-image.sh"


def exec_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run a command in the sandbox; return its exit code."""
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("selfmod sandbox exec: give the command after --", file=sys.stderr)
        return EXIT_USAGE
    workdir = Path(args.workdir)
    if not workdir.is_dir() or workdir.is_symlink():
        print(f"selfmod sandbox exec: --workdir {workdir} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    try:
        limits = _limits(args)
    except SandboxError as exc:
        print(f"selfmod sandbox exec: {exc}", file=sys.stderr)
        return EXIT_USAGE
    target = Path(tempfile.mkdtemp(prefix="selfmod-copy-")) if args.copy else workdir
    request = SandboxRequest(workdir=workdir, command=cmd, limits=limits, write_back=target,
                             image=args.image or settings.sandbox_image,
                             execution_type="manual")
    url = settings.docker_hosts[0] if settings.docker_hosts else DEFAULT_DOCKER_HOST
    runner = SandboxRunner(open_docker(url), engine_url=url, host_env=os.environ)
    result = asyncio.run(runner.run(request))
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        if result.killed_reason is not None:
            print(f"selfmod sandbox exec: killed ({result.killed_reason.value})", file=sys.stderr)
        for violation in result.security_violations:
            print(f"selfmod sandbox exec: violation {violation.kind.value}: {violation.detail}",
                  file=sys.stderr)
        if args.copy:
            print(f"selfmod sandbox exec: the copy is in {target}", file=sys.stderr)
    return result.exit_code


def _limits(args: argparse.Namespace) -> SandboxLimits:
    limits = SandboxLimits()
    if args.timeout is not None:
        limits = replace(limits, timeout=float(args.timeout))
    if args.memory is not None:
        limits = replace(limits, memory_bytes=parse_size(args.memory))
    return limits


def build_image_command(args: argparse.Namespace, settings: Settings) -> int:
    """Build the sandbox base image with the repository's script; return its exit code."""
    tag = args.tag or settings.sandbox_image
    script = find_build_script()
    cmd = ["bash", str(script), "--tag", tag]
    if getattr(args, "force", False):
        cmd.append("--force")
    return subprocess.run(cmd, check=False).returncode


def build_env_command(args: argparse.Namespace, settings: Settings) -> int:
    """Build (or find) a repository's environment image; print its name."""
    repo = Path(args.repo)
    url = settings.docker_hosts[0] if settings.docker_hosts else DEFAULT_DOCKER_HOST
    builder = EnvImageBuilder(open_docker(url), engine_url=url, index_url=settings.pip_index_url)
    try:
        env = builder.ensure_sync(repo, args.image or settings.sandbox_image,
                                  EnvConfig(setup_command=args.setup))
    except SandboxError as exc:
        print(f"selfmod sandbox build-env: {exc}", file=sys.stderr)
        return 1
    for note in env.notes:
        print(f"selfmod sandbox build-env: note: {note}", file=sys.stderr)
    state = "built" if env.built else ("reused" if env.key else "nothing to install")
    print(f"{env.image} ({state})")
    return 0


def find_build_script() -> Path:
    """Return the path of scripts/build-sandbox-image.sh in the source tree."""
    here = Path(str(resources.files("bot"))).parent / "scripts" / BUILD_SCRIPT
    if not here.is_file():
        raise SandboxError(f"{BUILD_SCRIPT} not found at {here}: run from a source checkout")
    return here
