"""The pipeline that orchestrates analysis, generation, validation, sandbox runs and proposals."""
