"""The API layer: the HTTP server on the unix socket (``server``), its routes, the request
schemas and validation, and the views that shape stored objects as the API shows them."""
