"""Render a tracking plan into everything a user imports into a server GTM container."""
