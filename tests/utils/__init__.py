"""What tests share: the embedded stack (`stack`), loopback HTTP (`loopback_http`), moto S3
(`moto_s3`), an OTLP receiver (`otlp_receiver`), runs and blobs through the API (`runs_helpers`,
`blob_apis`) and hand-made TIFFs (`tiff_forge`)."""
