"""Versioned prompt templates and the pure functions that render prompts and parse answers."""
