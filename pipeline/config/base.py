"""What every config class shares: strict validation, and a way for a validator that
sees several fields to name the one at fault."""

from __future__ import annotations

from pydantic import (
    BaseModel,
    ConfigDict,
)


class Strict(BaseModel):
    """Unknown keys, silently coerced types and infinite or NaN floats are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class FieldProblem(ValueError):
    """A problem found by a validator that sees several fields, located at `field` (a dotted
    path below the validated object) and reported with the offending `value`."""

    def __init__(self, field: str, message: str, value: object):
        super().__init__(message)
        self.field, self.message, self.value = field, message, value
