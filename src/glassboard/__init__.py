"""glassboard: an open, self-hostable LLM evaluation platform."""

__version__ = "0.1.0"
