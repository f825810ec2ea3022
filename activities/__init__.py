"""Activities: thin classes over injected clients, one class per concern.

`ingest.IngestActivities` and `runs.RunStoreActivities` run on the `ingest` pool,
`inference.InferenceActivities` on `inference` (the only module that imports torch),
`notify.NotifyActivities` on `notify`. Import the module you need; this package imports none.
"""
