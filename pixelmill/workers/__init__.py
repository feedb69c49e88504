"""What runs in worker processes or Ray actors, and the `WorkerBackend` seam a Processor drives.

Modules: `backend` (the protocol, and `start_worker`, which picks an
implementation), `local_worker` and `ray_worker` (the implementations),
`process` (what runs inside a worker), `fork_server`, `faults` and `settings`.
Nothing is imported here, so that the fork server and workers load only what
they use.
"""
