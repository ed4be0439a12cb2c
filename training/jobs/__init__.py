"""Jobs of record: every background step (probe, transcode, transcribe, index, …) is a row in
our database, whatever the message broker does with the message that announces it.

Why: measured before this was built, with Celery's serverless transports a job whose worker is
SIGKILLed mid-run is lost; on Redis a job that outlives the visibility timeout runs twice at
once; after a hard time limit an ffmpeg child keeps running. The broker is only a doorbell. The
row says what must happen, a conditional UPDATE decides who does it, a heartbeat proves the
worker still lives, and a periodic sweep rings the bell again for anything left behind.
"""
