"""The web layer: a FastAPI app (REST API). Pages come with the web issue."""
