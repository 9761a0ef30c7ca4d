"""The PRD's REST API: analyse a codebase on the server's disk, apply with approval, roll back."""
