"""labelwise: custom text classification with LLM autolabeling."""

__version__ = "0.1.0"
