-- The OpenTelemetry trace id of the request that created a run (null when tracing was off), so a
-- run can be found in a tracing UI and its logs joined by trace.

ALTER TABLE runs ADD COLUMN trace_id text;
