"""`selfmod verify`: offline check of a commit's Selfmod-Signature, or the app's public key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.settings import Settings
from bot.vcs.keys import build_allowed_signers_line, key_path, load_key, load_or_create_key
from bot.vcs.safegit import SafeGit
from bot.vcs.signature import verify_commit

EXIT_USAGE = 2


def verify_command(args: argparse.Namespace, settings: Settings) -> int:
    """Verify a commit or print the public key."""
    if args.public_key:
        key = load_or_create_key(key_path(settings))
        print(key.public_openssh)
        print(build_allowed_signers_line(settings.commit_author_email, key.public))
        return 0
    if not args.commit:
        print("selfmod verify: name a commit to verify, or pass --public-key", file=sys.stderr)
        return EXIT_USAGE
    public = load_key(key_path(settings)).public
    with SafeGit.create() as git:
        repo = git.open(Path(args.repo))
        result = verify_commit(git, repo, args.commit, public)
    status = "OK" if result.ok else "FAILED"
    modification = f" (modification {result.modification_id})" if result.modification_id else ""
    print(f"{result.commit}: {status}: {result.reason}{modification}")
    return 0 if result.ok else 1
