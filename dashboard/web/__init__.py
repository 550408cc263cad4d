"""The web app: create_app, dependencies, middleware, metrics, and the routes."""
