"""w2s-ray: weak-to-strong generate -> score -> select -> train loops on Ray."""
import os as _os

# Ray reads this when `ray` is first imported, not at ray.init(): set it before any module of ours
# (or a user's) can import ray, or an embedded Ray binds its workers' gRPC ports on every
# interface (measured). It only matters for a Ray started from this process; joining a cluster
# is unaffected. Forced, not defaulted: an inherited "1" must not open the port.
_os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
