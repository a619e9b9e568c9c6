"""Adapters: everything that talks FHIR, HTTP, SQL or Redis, or maps to and from them."""
