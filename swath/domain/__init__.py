"""The domain: what every other part of Swath speaks, with no I/O of its own.

- `contracts`: one frozen dataclass in and one out for every workflow and activity;
- `webhook_contracts`: the webhook delivery workflow's and activities' dataclasses;
- `status`: run statuses, lifecycle event types and circuit-breaker states (the vocabularies);
- `errors`: the one exception tree and the codes runs and items fail with;
- `run_view`: a run as the API and webhook bodies show it;
- `redact`: secrets out of URLs, headers and logs;
- `workflow_ids`: `run-<run id>` and `webhook-<message id>`;
- `chunks`: where a run's staged tiles are cut into chunks;
- `scene_limits`: what one scene may cost to open and read (`SceneLimits`);
- `priority`: a run's priority range and a tenant's fairness weight range and defaults;
- `principal`: who a request acts for, the scopes and tenant names;
- `webhook_destinations`: when two webhook URLs are one destination.

The bottom wing: it imports no other part of Swath, not even the settings. This package imports
none of its modules; import the one you need.
"""
