"""One router per file: jobs, service, suppressions, workspace, callbacks, events stream, page."""
