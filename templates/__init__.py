"""Jinja2 sources of every generated artifact (shipped as package data)."""
