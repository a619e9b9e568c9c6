"""osteoalert service: adapters (FHIR, cards, stores), use cases, settings, the HTTP API and the CLI."""
