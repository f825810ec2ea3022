"""What every Temporal-facing part shares: task queues (`queues`), search attributes
(`search_attributes`), connecting (`client`), workflow ids (`ids`), and the definitions of every
activity and workflow with their configs (`activities`)."""
