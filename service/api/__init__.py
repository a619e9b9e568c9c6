"""The HTTP layer: FastAPI routes that move bytes between the EHR and the use cases (service.hooks).

Routes hold no logic. Every error response is a FHIR OperationOutcome (`errors`); the objects a
route needs live on `app.state.runtime` (`state.Runtime`), built by `service.main.create_app`.
"""
