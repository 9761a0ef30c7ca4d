"""Scripts copied into the sandbox: they run there, on the repository's code, never on the host."""
