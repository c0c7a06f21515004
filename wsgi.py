"""WSGI entry point: ``gunicorn wsgi:app`` (settings from SMS_CONNECTOR_CONFIG / environment)."""

from connector.web import create_app

app = create_app()
