"""One run of the job: read, check, select, write."""
