"""Model registry and endpoints: file-backed locally, Vertex AI on Google Cloud, one interface."""
