"""The worker: dramatiq actors (scheduler, dial), leased semaphores, dialer backends."""
