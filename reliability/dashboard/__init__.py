"""The operator dashboard in the admin: panels registered by each app, charts drawn as SVG on the server."""
