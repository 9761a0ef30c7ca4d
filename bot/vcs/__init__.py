"""Git workspaces, signing, branches and reverts."""
