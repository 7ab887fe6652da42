"""Is the request authentic? Browser tokens and origins, signed server calls, webhook HMACs."""
