"""The job runner: persisted, resumable autolabel jobs with progress, cancel and a budget."""
