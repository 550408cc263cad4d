"""The web app: create_app, dependencies, middleware, HTML fragments, metrics and routes."""
