"""Time: pure computations of when a job may dial (no I/O).

- :mod:`domain.time.schedule`: a job's weekly schedule in its zone (open now, next
  open, next close), DST rules included.
- :mod:`domain.time.zones`: the IANA zones of a phone number.
- :mod:`domain.time.eligibility`: recipient-local hours, and when every schedule of a
  row's group is open together (what the scheduler asks for each group).
- :mod:`domain.time.instants`: what those share: the aware-datetime check, zone offsets
  and the one search for a zone's offset transitions.
- :mod:`domain.time.timefmt`: Redis milliseconds as ISO 8601 UTC.
"""
