"""Calling rules that come from the law (``callingRules``): the data tables and the
schedules they make (SPEC §8.5). Pure computations but for reading the tables once."""
