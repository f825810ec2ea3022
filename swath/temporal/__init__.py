"""What every Temporal-facing part shares: task queues (`queues`), search attributes
(`search_attributes`), connecting (`client`), the data converter (`converter`), the namespace
checks (`namespace`), the schedules Swath keeps (`schedules`), and the activity catalog
(`catalog`): every activity and workflow by reference, with its queue and config. Workflow ids
are `swath.domain.workflow_ids`."""
