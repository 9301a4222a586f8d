"""`[search]`: the student space and schedule `edgekit search` explores (settings only, no TensorFlow)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SearchSection(BaseModel):
    @model_validator(mode="after")
    def _check(self) -> "SearchSection":
        if any(0 < r < 8 for r in self.resolutions):
            raise ValueError("resolutions are 0 (the data's own) or at least 8 pixels")
        if not (self.alphas and self.depths and self.resolutions and self.blocks and self.sparsities and self.clusters):
            raise ValueError("alphas, resolutions, depths, blocks, sparsities and clusters each need at least one value")
        if any(k == 1 for k in self.clusters):
            raise ValueError("clusters are 0 (not clustered) or at least 2")
        return self

    """`[search]`: the student space and the successive-halving schedule of `edgekit search`."""
    model_config = ConfigDict(extra="forbid", validate_default=True)

    alphas: list[Annotated[float, Field(gt=0, le=4)]] = Field([0.25, 0.35, 0.5, 0.75], json_schema_extra={"example": "alphas = [0.25, 0.5]"})
    resolutions: list[Annotated[int, Field(ge=0)]] = Field([0], json_schema_extra={"example": "resolutions = [0, 24]  # 0: the data's own"})
    depths: list[Annotated[int, Field(ge=1, le=12)]] = Field([4], json_schema_extra={"example": "depths = [3, 4]"})
    blocks: list[Literal["separable", "inverted"]] = Field(["separable"], json_schema_extra={"example": 'blocks = ["separable", "inverted"]'})
    proxy_epochs: int = Field(1, ge=1, json_schema_extra={"example": "proxy_epochs = 1"})
    proxy_samples: int = Field(12000, ge=100, json_schema_extra={"example": "proxy_samples = 12000"})
    validation_samples: int = Field(5000, ge=100, json_schema_extra={"example": "validation_samples = 5000"})
    eta: int = Field(2, ge=2, json_schema_extra={"example": "eta = 2"})
    finalists: int = Field(2, ge=1, json_schema_extra={"example": "finalists = 2"})
    final_epochs: int = Field(15, ge=1, json_schema_extra={"example": "final_epochs = 15"})
    sparsities: list[Annotated[float, Field(ge=0, lt=1)]] = Field(
        [0.0], json_schema_extra={"example": "sparsities = [0, 0.5, 0.75]  # then pruned; 0: not pruned"})
    clusters: list[Annotated[int, Field(ge=0, le=256)]] = Field(
        [0], json_schema_extra={"example": "clusters = [0, 16]  # then clustered; 0: not clustered"})
