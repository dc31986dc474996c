"""Online prediction and batch scoring: the reason the pipeline exists.

* :mod:`.request` - validation of prediction requests (card numbers never leave it in clear).
* :mod:`.service` - the prediction use case, framework-free (status + JSON).
* :mod:`.http` - the functions-framework adapter with structured logs (``functions/predict``).
* :mod:`.batch` - batch scoring of the latest features into a predictions table.

The model behind the endpoint is called through the registry's endpoint clients
(:mod:`fraud_mlops.registry.endpoint_client`, chosen by :func:`fraud_mlops.targets.endpoint_client`);
starting the function locally and the demo's requests are the harness's (``devtools/``).
"""
