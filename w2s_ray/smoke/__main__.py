"""`python -m w2s_ray.smoke`."""
import sys

from w2s_ray.smoke import main

sys.exit(main())
