"""Pydantic models of the HTTP and Python edges (camelCase wire names, as SPEC §4).

Requests: :mod:`.jobs` (create, update, pause), :mod:`.workspace` (suppressions,
settings), :mod:`.callbacks` (a provider's status report); responses:
:mod:`.responses` (jobs, lists, the workspace) and :mod:`.errors` (the error shape).
"""
