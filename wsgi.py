"""WSGI entry point: ``gunicorn wsgi:app`` (settings from SMS_CONNECTOR_CONFIG / environment)."""

from connector.serve.server import wsgi_app

app = wsgi_app()
