"""The Ray environment: Ray init on 127.0.0.1 or a cluster (runtime.py), devices and placement
(devices.py), free resources (free_resources.py), below every stage; and `w2s plan` (plan.py), above them."""
