"""What a campaign's ``model: {kind: transfer, params: ...}`` may say.

```yaml
model:
  kind: transfer
  params:
    method: auto                  # multi-task | prior-mean | latent-variable | fine-tune | auto
    source:
      - {path: data/arylation_90C.csv, objective: yield}
      - {path: data/other.csv, objective: y, columns: {Base: base_name}}   # campaign input: source column
      - {path: data/plate_2.csv, objective: y, fixed: {sn_load: 0}}    # an input the source held at one value
      - {campaign: arylation-120C}   # its succeeded experiments when this one starts (same store)
    base: gp                      # the target model where the method has one (gp | random-forest)
```
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictBool, Tag, field_validator, model_validator

METHODS = ("multi-task", "prior-mean", "latent-variable", "fine-tune")
Method = Literal["multi-task", "prior-mean", "latent-variable", "fine-tune", "auto"]
AUTO_PARTS = ("none", "prior-mean", "latent-variable", "multi-task")  # what auto can mix (none: no transfer)
AutoPart = Literal["none", "prior-mean", "latent-variable", "multi-task"]


class _HeldInputs(BaseModel):
    """Checks ``fixed`` (each source kind declares it): the campaign's inputs a source held at one value, so
    it has no column (or input) for them."""

    @field_validator("fixed", mode="before", check_fields=False)
    @classmethod
    def _fixed_values(cls, value: Any) -> Any:
        """Each value one number or one piece of text, as a cell of the input's column would hold it."""
        if not isinstance(value, dict):
            return value  # the field's type check reports it
        for name, v in value.items():
            if isinstance(v, bool):
                raise ValueError(f"{name}: {str(v).lower()} is a boolean; write the input's value as a number "
                                 f"({int(v)}) or, for a categorical input, its level in quotes ('{str(v).lower()}')")
            if v is None or isinstance(v, (list, dict)) or (isinstance(v, float) and not math.isfinite(v)):
                from ...config import _short

                what = "an empty value" if v is None else _short(v)
                raise ValueError(f"{name}: {what} is not one value; give the single value '{name}' had in every "
                                 f"row of the source (a finite number, or a level), e.g. {{{name}: 0}}")
            if isinstance(v, str) and not v.strip():
                raise ValueError(f"{name}: the value is blank; give the value '{name}' had in every row of the "
                                 "source")
        return value


class CsvSource(_HeldInputs):
    """Earlier results in a CSV file: one row per experiment, the campaign's inputs and an objective column."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="CSV file, relative to the campaign file")
    objective: str = Field(description="the column holding the source's objective (same goal as the campaign)")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="campaign input -> the source's column of it, for inputs whose column is named differently")
    where: dict[str, Any] = Field(
        default_factory=dict,
        description="keep only rows whose column equals this value, e.g. {Temp_C: 90} (all rows if empty)")
    fixed: dict[str, Any] = Field(
        default_factory=dict,
        description="campaign input -> the one value it had in every row of the source, for inputs the source "
                    "did not vary and has no column of, e.g. {sn_load: 0}: an element the earlier plate did not "
                    "contain, an additive it did not use")

    @field_validator("where", mode="before")
    @classmethod
    def _where_values(cls, value: Any) -> Any:
        from oracles.csvfile import check_where

        return check_where(value)

    @field_validator("path")
    @classmethod
    def _a_file_name(cls, value: str) -> str:
        from oracles.csvfile import data_file_name

        return data_file_name(value, "source's")  # '' read the campaign's folder (fuzz round nineteen)

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and "campaign" in data:
            raise ValueError("names both a path and a campaign: a source is either a CSV file {path, objective} "
                             "or another campaign {campaign: NAME}; split it into two sources or remove one")
        if isinstance(data, dict) and "path" not in data:
            raise ValueError("names neither a path nor a campaign: a source is either a CSV file {path, objective} "
                             "or another campaign in the same store {campaign: NAME}")
        return data


class CampaignSource(_HeldInputs):
    """Every succeeded experiment of another campaign in the same store (same inputs and objective goal)."""

    model_config = ConfigDict(extra="forbid")

    campaign: str = Field(description="name of a campaign in the same store")
    fixed: dict[str, Any] = Field(
        default_factory=dict,
        description="campaign input -> the one value it had in every experiment of the source campaign, for "
                    "inputs that campaign did not have")

    @field_validator("campaign")
    @classmethod
    def _a_campaign_name(cls, name: str) -> str:
        import re

        from ...config import NAME_PATTERN

        if not re.match(NAME_PATTERN, name):
            raise ValueError(f"'{name}' cannot be a campaign's name (a name starts with a letter or digit and uses "
                             "only letters, digits, '_', '-' and '.'); give the source campaign's name as "
                             "`looplab status` lists it")
        return name


def _source_kind(value: Any) -> str:
    """Which kind of source an entry is, so that an error speaks of that kind only: a mapping with
    ``campaign`` and no ``path`` is a campaign; everything else is read as a CSV source."""
    if isinstance(value, CampaignSource) or (isinstance(value, dict) and "campaign" in value and "path" not in value):
        return "CampaignSource"
    return "CsvSource"


SourceSpec = Annotated[Union[Annotated[CsvSource, Tag("CsvSource")], Annotated[CampaignSource, Tag("CampaignSource")]],
                       Discriminator(_source_kind)]


# options that only some methods read (an auto that mixes multi-task reads multi-task's)
OPTION_METHODS = {
    **{k: ("auto",) for k in ("auto_methods", "none_prior", "weigh_by", "weigh_on", "gate_on_none",
                              "source_check_rows", "source_check_gate")},
    **{k: ("multi-task", "auto") for k in ("multitask_rows", "multitask_scale", "multitask_lengthscale_prior",
                                           "multitask_target_kernel")},
    **{k: ("fine-tune",) for k in ("ensemble", "hidden", "epochs")},
}
# auto's own options that read its multi-task GP: auto reads them only when it mixes multi-task
READ_FROM_MULTITASK = ("source_check_rows", "source_check_gate")


def split_methods(v: Any) -> Any:
    """``auto_methods`` as a list: a --strategies param joins the methods by '+' (none+prior-mean)."""
    return [p.strip() for p in v.split("+")] if isinstance(v, str) else v


def option_applies(key: str, method: str, auto_methods: Any = ("none", "prior-mean", "multi-task")) -> bool:
    """Whether the transfer option ``key`` is read by ``method`` (for auto: by what it mixes)."""
    used_by = OPTION_METHODS.get(key)
    if not used_by or method in used_by and method != "auto":
        return True
    if method != "auto" or "auto" not in used_by:
        return False
    return used_by == ("auto",) and key not in READ_FROM_MULTITASK or "multi-task" in (auto_methods or ())


class TransferConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Method = Field(
        default="auto", description="multi-task: one GP over source and target with a learned task covariance; "
        "prior-mean: the source model is the target GP's prior mean (learned scale and offset); latent-variable: "
        "the source model's prediction is an extra input of the base model; fine-tune: an MLP ensemble "
        "pre-trained on the source, its last layer retrained on the target; auto: the mixture of the GP-based "
        "methods and the base model alone, weighted by their leave-one-out predictions on the target data "
        "(weigh_by)")
    source: list[SourceSpec] = Field(description="one or more sources: {path, objective, columns, where, "
                                                               "fixed} "
                                                               "or {campaign: NAME}")
    base: Literal["gp", "random-forest"] = Field(
        default="gp", description="the target model (latent-variable, the 'no transfer' part of auto); the "
        "GP-only methods (multi-task, prior-mean) always use a GP")
    base_params: dict[str, Any] = Field(default_factory=dict, description="params of the base model")
    auto_methods: list[AutoPart] = Field(
        default_factory=lambda: ["none", "prior-mean", "multi-task"],
        description="auto: the methods it mixes (none = the base model without transfer; in a --strategies "
        "param, joined by '+'). latent-variable is left out by default: its leave-one-out score flatters it "
        "(an extra input fitted to the same points), it was never the best method on held-out rows, and in "
        "closed-loop campaigns a misleading source misled it most (README, Transfer learning)")
    none_prior: float = Field(
        default=0.5, gt=0.0, lt=1.0, description="auto: the prior weight of 'none' (no transfer); the transfer "
        "methods share the rest. The weights start there and move with the evidence. With equal prior weights "
        "the first few results, chosen while the methods still weigh about the same, went where a misleading "
        "source was high (README, A misleading source)")
    source_check_rows: float = Field(
        default=20.0, ge=0.0, le=1e6, allow_inf_nan=False, description="auto, with multi-task among auto_methods: "
        "scale the transfer methods' prior weight by how well the multi-task GP predicts the sources' own rows "
        "(their leave-one-out R^2, at least 0; the best source's), shrunk toward 1 as if this many more rows had "
        "been predicted perfectly, so that a few rows cannot condemn a source and many rows of a source whose "
        "objective the inputs do not explain (R^2 about 0) leave the transfer methods little prior weight, which "
        "'none' takes. 0: off (the prior is none_prior as given). Measured: README, A misleading source")
    source_check_gate: float = Field(
        default=0.5, ge=0.0, le=1.0, allow_inf_nan=False, description="auto, with multi-task among auto_methods "
        "and source_check_rows above 0: while the weights are not yet the scores weigh_on names (the prior, and "
        "the leave-one-out weights of the first steps), predict with 'none' alone when the source check leaves "
        "the transfer methods less than this share of their prior weight (a source whose own rows its inputs "
        "explain little: R^2 below about 0.4 over 100 rows); the transfer methods are still fitted and scored, "
        "and steer once their predictions of the target results beat 'none' (gate_on_none). 0: off. Measured: "
        "README, A misleading source")
    weigh_by: Literal["accuracy", "density"] = Field(
        default="accuracy", description="auto: how the methods' leave-one-out predictions on the target data are "
        "scored for their pseudo-BMA+ weights: accuracy = of the means (each method's errors against its own mean "
        "squared error: the weights follow the leave-one-out RMSE); density = the methods' own predictive "
        "densities, which flatter a flexible method whose hyperparameters were fitted to the same points "
        "(measured: models/transfer/weights.py)")
    weigh_on: Literal["prequential", "leave-one-out"] = Field(
        default="prequential", description="auto: which predictions of the target data the weights score. "
        "prequential = what each method predicted for every result before it was measured (the methods as an "
        "earlier step fitted them), from 3 such results on, leave-one-out before; leave-one-out = each "
        "method's leave-one-out predictions at every target point, hyperparameters fitted to all of them, "
        "which cannot see a method that leads the search to where it is wrong and then fits what it finds")
    gate_on_none: StrictBool = Field(
        default=True, description="auto: once the weights come from the scores weigh_on names (prequential: from "
        "3 scored results on; not the prior, nor the leave-one-out scores before), predict with 'none' "
        "alone whenever it has the largest weight, so that a transfer method steers the search only after it has "
        "predicted the target results better than the model without transfer (the scored weights stay in the "
        "model's state and the report). false: always predict with the weighted mixture. Measured: README, "
        "Transfer learning")
    multitask_rows: int = Field(
        default=400, ge=10, le=5000, description="multi-task: at most this many (10-5000) source rows (all sources together) enter "
        "the multi-task GP, whose fit costs O((source + target rows)^3) every step; above it each source keeps "
        "a random share (the same rows every step, drawn from the data's hash). The other methods use every row")
    multitask_scale: Literal["per-task", "shared"] = Field(
        default="per-task", description="multi-task: standardise each task's objective on its own (per-task: the "
        "tasks' shapes carry over, not their levels or units) or all tasks by one mean and spread (shared: the "
        "sources measure the same objective in the same units, so their levels carry over too)")
    multitask_lengthscale_prior: Literal["auto", "gamma", "dim-scaled", "long", "none"] = Field(
        default="auto", description="multi-task: the prior on the input kernel's lengthscales (the GP core's "
        "presets: auto = Gamma(3, 6) on numeric columns, none on one-hot columns and long on descriptor columns "
        "(with multi-task as the method and inside auto alike); "
        "gamma = Gamma(3, 6) on each; long = Gamma(2, 0.2), mode 5, EDBO's and BayBE's prior for descriptors, "
        "which keeps substances correlated across ~90 descriptor columns; dim-scaled = Hvarfner et al.'s "
        "LogNormal whose median grows as sqrt(d)). Measured on direct arylation: README, Transfer learning")
    multitask_target_kernel: Literal["shared", "own"] = Field(
        default="shared", description="multi-task: the target task's own variance multiplies the input kernel "
        "every task shares (shared: intrinsic coregionalisation) or a kernel of the target's own, with its own "
        "lengthscales under the plain GP's prior (own: the target can have a structure the sources lack)")
    ensemble: int = Field(default=5, ge=1, le=20, description="fine-tune: networks in the deep ensemble")
    # upper bounds: the ensemble's networks are trained in one process; [20000, 20000] took 23 GB and was killed
    # by the kernel, 10^9 epochs never end. Tens of target rows and thousands of source rows need far less.
    hidden: list[Annotated[int, Field(ge=1, le=2048)]] = Field(
        default_factory=lambda: [64, 64], min_length=1, max_length=8,
        description="fine-tune: hidden layer widths, 1-2048 each, at most 8 layers (all but the last one are "
                    "frozen after pre-training); in a --strategies param joined by '+' (hidden=64+64)")
    epochs: int = Field(default=300, ge=1, le=20000,
                        description="fine-tune: pre-training epochs, at most 20000 (fine-tuning uses the same)")

    @model_validator(mode="after")
    def _options_of_the_method(self) -> "TransferConfig":
        """An option given for a method the campaign does not use would be ignored: refuse it instead."""
        from ...config import given_fields

        given = given_fields(self)
        for key in given:
            used_by = OPTION_METHODS.get(key)
            if used_by and not option_applies(key, self.method, self.auto_methods):
                if self.method == "auto" and key in READ_FROM_MULTITASK:
                    raise ValueError(f"{key} reads auto's multi-task GP, which auto_methods "
                                     f"{list(self.auto_methods)} leaves out; add multi-task to auto_methods or "
                                     f"remove {key}")
                raise ValueError(f"{key} is an option of {' and '.join(used_by)}, which this campaign does not use "
                                 f"(method: {self.method}"
                                 + (f", auto_methods: {list(self.auto_methods)}" if self.method == "auto" else "")
                                 + f"); remove it, or set method: {used_by[0]}")
        # base: the model of latent-variable and of auto's "none"; base_params: theirs, and prior-mean's GP
        methods = set(self.auto_methods) if self.method == "auto" else {self.method}
        if "base" in given and not methods & {"none", "latent-variable"}:
            raise ValueError(f"base is the target model of latent-variable and of auto's none part, which this "
                             f"campaign does not use (method: {self.method}"
                             + (f", auto_methods: {list(self.auto_methods)}" if self.method == "auto" else "")
                             + "); multi-task, prior-mean and fine-tune have their own model: remove base")
        readers = {"none", "latent-variable"} | ({"prior-mean"} if self.base == "gp" else set())
        if "base_params" in given and self.base_params and not methods & readers:
            raise ValueError(f"base_params are the params of the base model, which method {self.method} does not "
                             "use (read by latent-variable, auto's none part and prior-mean's GP); remove them")
        if "source_check_gate" in given and self.source_check_gate > 0 and self.source_check_rows == 0:
            raise ValueError("source_check_gate reads the source check, which source_check_rows: 0 turns off; "
                             "set source_check_rows above 0 or remove source_check_gate")
        return self

    @field_validator("auto_methods", mode="before")
    @classmethod
    def _joined(cls, v: Any) -> Any:
        return split_methods(v)

    @field_validator("hidden", mode="before")
    @classmethod
    def _widths_joined(cls, v: Any) -> Any:
        """``hidden`` in a --strategies param: widths joined by '+' (64+64), as commas part the params."""
        if isinstance(v, str) and "+" in v:
            parts = [p.strip() for p in v.split("+")]
            return [int(p) if re.fullmatch(r"[0-9]+", p) else p for p in parts]
        return v

    @field_validator("auto_methods")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        twice = sorted({p for p in v if v.count(p) > 1})
        if twice:
            raise ValueError(f"lists {', '.join(twice)} more than once; name each method once")
        if len(v) < 2:
            raise ValueError(f"auto mixes at least two methods, e.g. [none, prior-mean] (in --strategies: "
                             f"auto_methods=none+prior-mean) (got {v}); for a single method set method: to it "
                             "instead of auto")
        return v

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, dict) else v

    @field_validator("source")
    @classmethod
    def _each_once(cls, v: list) -> list:
        if not v:
            raise ValueError("is an empty list; give at least one source: a CSV file {path: FILE.csv, objective: "
                             "COLUMN} or another campaign {campaign: NAME} (or use the base model without transfer)")
        for j, s in enumerate(v):
            if s in v[:j]:  # the same rows twice: two identical tasks, or a source counted twice in auto
                raise ValueError(f"source[{j}] is the same as source[{v.index(s)}]; give each source once")
        return v
