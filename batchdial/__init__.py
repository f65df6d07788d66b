"""batchdial: outbound calling campaigns on dramatiq + Redis. The CLI lives here."""
