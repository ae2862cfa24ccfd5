"""eap: run and report an oncology extended-access program.

The built-in study is MM-024, the extended-access program of lenalidomide plus
low-dose dexamethasone (Rd) that followed the MM-021 trial.
"""

from eap.errors import EapError

__version__ = "0.1.0"
__all__ = ["EapError", "__version__"]
