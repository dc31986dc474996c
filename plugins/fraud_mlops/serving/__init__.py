"""Online prediction and batch scoring: the reason the pipeline exists.

* :mod:`.request` - validation of prediction requests (card numbers never leave it in clear).
* :mod:`.predictor` - a lean, verified single-row call path for the served model.
* :mod:`.endpoint` - the model behind the endpoint: local file with a traffic split, or Vertex.
* :mod:`.service` - the prediction use case, framework-free (status + JSON).
* :mod:`.http` - the functions-framework adapter with structured logs (``functions/predict``).
* :mod:`.server` - start/stop the function locally (tests, bench, demo).
* :mod:`.demo` - the requests ``make demo`` ends with.
* :mod:`.batch` - batch scoring of the latest features into a predictions table.
"""
