"""Generation of candidate modifications: rule codemods and the LLM provider."""
