"""What the tests share, and nothing else: request bodies (:mod:`.bodies`), HTTP helpers
(:mod:`.http`), waits with a deadline (:mod:`.waits`), batchdial's own processes and the
stack of API + workers as a factory (:mod:`.procs`, :mod:`.stack`), the stand-in voice
providers (:mod:`.provider`, :mod:`.faulty_provider`) and in-process engine doubles
(:mod:`.engine`). No test module imports from another test module: helpers live here."""
