"""The model library: layer kinds a workload YAML can name, each one class and one registration.

A layer here is pure description: its shapes and parameters. How it turns into operators lives in
``accelsim/graph/lower.py``; what it costs lives in ``accelsim/hw``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from accelsim.spec.base import Strict, Text

Width = Annotated[int, Field(gt=0, le=1_000_000)]
"""A layer dimension (features, cells, symbols): 1 to 1,000,000."""

LAYER_KINDS: dict[str, type["LayerSpec"]] = {}


def register_layer(kind: str):
    """Class decorator: make a layer kind available to workload YAML files under ``kind``."""

    def add(cls: type["LayerSpec"]) -> type["LayerSpec"]:
        LAYER_KINDS[kind] = cls
        return cls

    return add


class LayerSpec(Strict):
    """One entry of a network's ``layers`` list."""

    name: Text | None = Field(None, description="Name used in reports and precision overrides (defaults to the kind).")
    recurrent: ClassVar[bool] = False

    def weights(self) -> dict[str, tuple[int, int]]:
        """Quantizable weight matrices by name -> (rows, cols)."""
        return {}

    def bias_params(self) -> int:
        """Bias parameters (kept in FP32 whatever the precision)."""
        return 0

    def output_size(self) -> int:
        raise NotImplementedError

    def expand(self) -> list["LayerSpec"]:
        """Concrete layers (a stack with ``count`` > 1 becomes ``count`` layers named name1..nameN)."""
        return [self.model_copy(update={"name": self.name or self.kind})]  # type: ignore[attr-defined]

    def params(self) -> int:
        return sum(r * c for r, c in self.weights().values()) + self.bias_params()


@register_layer("embedding")
class Embedding(LayerSpec):
    """A table lookup: one row of ``dim`` weights per symbol."""

    kind: Literal["embedding"] = Field("embedding", description="Layer kind.")
    vocab: Width = Field(description="Number of symbols embedded; at most 1,000,000.")
    dim: Width = Field(description="Embedding width; at most 1,000,000.")

    def weights(self):
        return {"table": (self.vocab, self.dim)}

    def output_size(self) -> int:
        return self.dim


@register_layer("linear")
class Linear(LayerSpec):
    """A fully connected layer: ``output`` x ``input`` weights and a bias."""

    kind: Literal["linear"] = Field("linear", description="Layer kind.")
    input: Width = Field(description="Input features; at most 1,000,000.")
    output: Width = Field(description="Output features; at most 1,000,000.")

    def weights(self):
        return {"W": (self.output, self.input)}

    def bias_params(self) -> int:
        return self.output

    def output_size(self) -> int:
        return self.output


class _Recurrent(LayerSpec):
    input: Width = Field(description="Input features of the first layer of the stack; at most 1,000,000.")
    hidden: Width = Field(description="Cells per direction; at most 1,000,000.")
    count: int = Field(1, gt=0, le=1_000, description="Stacked layers; layer k > 1 takes the previous layer's output; at most 1,000.")
    recurrent: ClassVar[bool] = True
    directions: ClassVar[int] = 1

    def weights(self):
        # PyTorch convention: input and recurrent matrices per direction, gates i, f, g, o stacked.
        out: dict[str, tuple[int, int]] = {}
        for d in self.direction_names():
            out[f"{d}W_ih"] = (4 * self.hidden, self.input)
            out[f"{d}W_hh"] = (4 * self.hidden, self.hidden)
        return out

    def bias_params(self) -> int:
        return self.directions * 2 * 4 * self.hidden  # b_ih and b_hh, as PyTorch keeps them

    def direction_names(self) -> tuple[str, ...]:
        return ("",) if self.directions == 1 else ("fwd.", "bwd.")

    def output_size(self) -> int:
        return self.directions * self.hidden

    def expand(self) -> list[LayerSpec]:
        base = self.name or self.kind  # type: ignore[attr-defined]
        if self.count == 1:
            return [self.model_copy(update={"name": base})]
        layers, width = [], self.input
        for k in range(self.count):
            layers.append(self.model_copy(update={"name": f"{base}{k + 1}", "input": width, "count": 1}))
            width = self.output_size()
        return layers


@register_layer("lstm")
class LSTM(_Recurrent):
    """A (stack of) unidirectional LSTM layer(s)."""

    kind: Literal["lstm"] = Field("lstm", description="Layer kind.")


@register_layer("blstm")
class BLSTM(_Recurrent):
    """A (stack of) bidirectional LSTM layer(s): forward and backward directions of ``hidden`` cells each."""

    kind: Literal["blstm"] = Field("blstm", description="Layer kind.")
    directions: ClassVar[int] = 2


@register_layer("multiplicative_joint")
class MultiplicativeJoint(LayerSpec):
    """Joint network combination of encoder and prediction outputs by element-wise product (Saon et al. 2021)."""

    kind: Literal["multiplicative_joint"] = Field("multiplicative_joint", description="Layer kind.")
    dim: Width = Field(description="Width of the encoder and prediction outputs that are multiplied; at most 1,000,000.")

    def output_size(self) -> int:
        return self.dim


@register_layer("log_softmax")
class LogSoftmax(LayerSpec):
    """Log-softmax over ``dim`` classes (element-wise work only)."""

    kind: Literal["log_softmax"] = Field("log_softmax", description="Layer kind.")
    dim: Width = Field(description="Number of classes normalised; at most 1,000,000.")

    def output_size(self) -> int:
        return self.dim
