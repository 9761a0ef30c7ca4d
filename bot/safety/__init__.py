"""Static safety validation and scoring of suggestions."""
