"""The runtime emulates a part of GTM's built-ins, and names them from the one table the
validator also uses (formats.gtm_builtins); the two drifted while each kept its own copy."""

from __future__ import annotations

from formats.gtm_builtins import BUILTIN_VARIABLE_NAMES, SERVER_VARIABLE_TYPES
from runtime.container import EMULATED_BUILTIN_VARIABLES, VARIABLE_TYPES


def test_every_emulated_builtin_variable_is_one_of_gtms() -> None:
    assert set(EMULATED_BUILTIN_VARIABLES) <= set(BUILTIN_VARIABLE_NAMES)


def test_every_emulated_variable_type_is_a_server_built_in_the_validator_knows() -> None:
    assert set(VARIABLE_TYPES) <= SERVER_VARIABLE_TYPES
