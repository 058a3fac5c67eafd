"""ipywidgets used by the chapters, one module per chapter topic.

Importing this package also gives every widget a static view (`static.static_html`) for pages shown
without a kernel, such as the course site.
"""

from .static import register_static_fallback

register_static_fallback()
