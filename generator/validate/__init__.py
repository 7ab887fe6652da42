"""`sgtm validate`: container export checks against the Tag Manager API v2 schemas.

Other parts call ``validate_container(data, source)`` and keep the findings whose
``severity`` is ``"error"`` (``errors(findings)``).
"""

from generator.validate.container import errors, load_export, validate_container, validate_file
from generator.validate.findings import Finding

__all__ = ["Finding", "errors", "load_export", "validate_container", "validate_file"]
