"""The one way to plug things in: a module declares what it adds, a :class:`Registry` finds it.

Artifacts, experiment kinds, unlearning methods, dataset kinds and models each have one
registry, kept by their subpackage. A module of that subpackage that declares the registry's
attribute (``ARTIFACT``, ``KIND``, ``METHODS``, ``MODELS``) is a plug-in; a module without it
(a shared helper) is not. The registry imports every module of its subpackage the first time
it is asked for a name, so no list of names is written by hand anywhere, and a module that
is added is found without editing anything else.

A separate package adds plug-ins without editing the suite: it names a module of its own
under the entry-point group of the subpackage (``unlearnbench.unlearning`` for methods,
``unlearnbench.models``, ...), and that module declares the same attribute.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownPluginError(KeyError):
    """No plug-in has this name; the message lists the names that exist."""

    def __str__(self) -> str:  # a plain KeyError would show the message in quotes
        return str(self.args[0]) if self.args else super().__str__()


def declared_mapping(module: ModuleType, value: Any) -> Mapping[str, Any]:
    """The attribute is a mapping of names to plug-ins (``METHODS = {"lcodec": lcodec}``)."""
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{module.__name__} must declare a mapping of names to plug-ins, got {type(value).__name__}"
        )
    return value


def declared_module(module: ModuleType, value: Any) -> Mapping[str, Any]:
    """The attribute is a name and the module itself is the plug-in (``KIND = "bullseye"``)."""
    return {str(value): module}


def declared_object(module: ModuleType, value: Any) -> Mapping[str, Any]:
    """The attribute is one object that carries its ``name`` (``ARTIFACT = GsTable1()``)."""
    return {str(value.name): value}


class Registry(Generic[T]):
    """Name -> plug-in for one plug-in type, filled by discovery and never by a hand-written list.

    ``package`` is the subpackage whose modules are searched and also the entry-point group a
    separate package uses; ``attribute`` is what a plug-in module declares; ``entries`` turns a
    module and the value of its attribute into ``{name: plug-in}``.
    """

    def __init__(
        self,
        what: str,
        package: str,
        attribute: str,
        entries: Callable[[ModuleType, Any], Mapping[str, T]] = declared_mapping,
    ) -> None:
        self.what = what
        self.package = package
        self.attribute = attribute
        self.entries = entries
        self._plugins: dict[str, tuple[T, ModuleType]] | None = None
        self._scanned: set[str] = set()  # modules already read (a rescan never reads one twice)

    # ------------------------------------------------------------------------------ lookup

    def get(self, name: str) -> T:
        """The plug-in called ``name``; an unknown name is an :class:`UnknownPluginError` listing the known."""
        return self._entry(name)[0]

    def module_of(self, name: str) -> ModuleType:
        """The module that declares ``name`` (for what it declares besides the plug-in itself)."""
        return self._entry(name)[1]

    def names(self) -> list[str]:
        return sorted(self._discovered())

    def items(self) -> list[tuple[str, T]]:
        plugins = self._discovered()
        return [(name, plugins[name][0]) for name in sorted(plugins)]

    def __contains__(self, name: object) -> bool:
        return name in self._discovered()

    def _entry(self, name: str) -> tuple[T, ModuleType]:
        plugins = self._discovered()
        if name not in plugins:
            self._read_entry_points(plugins)  # a package installed since the first lookup
        if name not in plugins:
            raise UnknownPluginError(
                f"unknown {self.what} {name!r}; known: {', '.join(sorted(plugins)) or 'none'}"
            )
        return plugins[name]

    # ---------------------------------------------------------------------------- discovery

    def _discovered(self) -> dict[str, tuple[T, ModuleType]]:
        if self._plugins is None:
            plugins: dict[str, tuple[T, ModuleType]] = {}
            self._scanned = set()
            package = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(package.__path__):
                self._read(importlib.import_module(f"{self.package}.{info.name}"), plugins)
            self._read_entry_points(plugins)
            self._plugins = plugins
        return self._plugins

    def _read_entry_points(self, plugins: dict[str, tuple[T, ModuleType]]) -> None:
        for point in entry_points(group=self.package):
            module = point.load()
            if not isinstance(module, ModuleType) or not hasattr(module, self.attribute):
                raise TypeError(
                    f"entry point {point.name!r} of group {self.package!r} must name a module that declares "
                    f"{self.attribute}, not {point.value!r}"
                )
            self._read(module, plugins)

    def _read(self, module: ModuleType, plugins: dict[str, tuple[T, ModuleType]]) -> None:
        if module.__name__ in self._scanned or not hasattr(module, self.attribute):
            return
        self._scanned.add(module.__name__)
        for name, plugin in self.entries(module, getattr(module, self.attribute)).items():
            if name in plugins:
                raise ValueError(
                    f"{self.what} {name!r} is declared twice: by {plugins[name][1].__name__} and by {module.__name__}"
                )
            plugins[name] = (plugin, module)
