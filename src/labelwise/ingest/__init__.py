"""Importers and exporters: folders of .txt, CSV, JSONL, Azure project files, fsspec URLs."""
