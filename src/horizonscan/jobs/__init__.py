"""Jobs: the orchestration that runs the stages in order (a batch, collection, the corpus stage,
provider batches, watch, the audit). Stages never import a job; jobs import stages."""
