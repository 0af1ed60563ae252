"""The PySide6 desktop app: the only package that imports Qt."""

from .compat import pin_singletons

pin_singletons()
