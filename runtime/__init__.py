"""A local emulation of the server-side GTM template sandbox and container."""
