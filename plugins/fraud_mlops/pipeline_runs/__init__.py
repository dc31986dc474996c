"""Where the compiled training pipeline runs: Vertex AI Pipelines on gcp, ``kfp.local`` locally.

* :mod:`.base` - the runner seam, the compiled YAML's location, and :class:`.result.PipelineResult`.
* :mod:`.kfp_local` - the committed YAML run in subprocesses on this machine.
* :mod:`.vertex` - the provider's ``RunPipelineJobOperator`` (deferrable), built at run time.
"""
