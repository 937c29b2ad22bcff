"""The model library: layer kinds a workload YAML can name, each one class and one registration.

A layer here is pure description: its shapes and parameters. How it turns into operators lives in
``accelsim/graph/lower.py``; what it costs lives in ``accelsim/hw``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

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
    encoder_only: ClassVar[bool] = False  # runs over a whole sequence only (the Conformer kinds)
    subsampling: ClassVar[int] = 1  # input frames per output frame (the convolutional front end: 4)

    @property
    def stacking(self) -> int:
        """Frames this layer stacks into one (a time-stacking layer's factor): the layers before it run at that many
        times the rate of the layers after it. 1 for every other layer."""
        return 1

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
    bias: bool = Field(True, description="Has a bias vector (kept in FP32); false for a projection without one.")

    def weights(self):
        return {"W": (self.output, self.input)}

    def bias_params(self) -> int:
        return self.output if self.bias else 0

    def output_size(self) -> int:
        return self.output


class _Recurrent(LayerSpec):
    input: Width = Field(description="Input features of the first layer of the stack; at most 1,000,000.")
    hidden: Width = Field(description="Cells per direction; at most 1,000,000.")
    count: int = Field(1, gt=0, le=1_000, description="Stacked layers; layer k > 1 takes the previous layer's output; at most 1,000.")
    bias: bool = Field(True, description="Has the input and recurrent bias vectors b_ih and b_hh (kept in FP32).")
    recurrent: ClassVar[bool] = True
    directions: ClassVar[int] = 1
    gates: ClassVar[int] = 4  # an LSTM's i, f, g, o
    states: ClassVar[int] = 2  # an LSTM's h and c

    def weights(self):
        # PyTorch convention: input and recurrent matrices per direction, the gates stacked.
        out: dict[str, tuple[int, int]] = {}
        for d in self.direction_names():
            out[f"{d}W_ih"] = (self.gates * self.hidden, self.input)
            out[f"{d}W_hh"] = (self.gates * self.hidden, self.hidden)
        return out

    def bias_params(self) -> int:
        return self.directions * 2 * self.gates * self.hidden if self.bias else 0  # b_ih and b_hh, as PyTorch keeps them

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


@register_layer("gru")
class GRU(_Recurrent):
    """A (stack of) unidirectional GRU layer(s): gates r, z, n; one state vector h."""

    kind: Literal["gru"] = Field("gru", description="Layer kind.")
    gates: ClassVar[int] = 3
    states: ClassVar[int] = 1


@register_layer("bgru")
class BGRU(_Recurrent):
    """A (stack of) bidirectional GRU layer(s): forward and backward directions of ``hidden`` cells each."""

    kind: Literal["bgru"] = Field("bgru", description="Layer kind.")
    directions: ClassVar[int] = 2
    gates: ClassVar[int] = 3
    states: ClassVar[int] = 1


@register_layer("multiplicative_joint")
class MultiplicativeJoint(LayerSpec):
    """Joint network combination of encoder and prediction outputs by element-wise product (Saon et al. 2021)."""

    kind: Literal["multiplicative_joint"] = Field("multiplicative_joint", description="Layer kind.")
    dim: Width = Field(description="Width of the encoder and prediction outputs that are multiplied; at most 1,000,000.")

    def output_size(self) -> int:
        return self.dim


@register_layer("additive_joint")
class AdditiveJoint(MultiplicativeJoint):
    """Joint network combination of encoder and prediction outputs by element-wise sum (the usual transducer joint)."""

    kind: Literal["additive_joint"] = Field("additive_joint", description="Layer kind.")  # type: ignore[assignment]


@register_layer("stack_frames")
class StackFrames(LayerSpec):
    """Consecutive frames stacked into one (feature splicing, or an encoder's time reduction): ``factor`` frames of
    ``input`` features become one frame of ``factor x input`` features, at 1/factor of the frame rate. No weights, no
    work: a view of its input."""

    kind: Literal["stack_frames"] = Field("stack_frames", description="Layer kind.")
    input: Width = Field(description="Features per input frame; at most 1,000,000.")
    factor: int = Field(ge=2, le=64, description="Input frames per output frame; 2 to 64.")

    @property
    def stacking(self) -> int:
        return self.factor

    def output_size(self) -> int:
        return self.input * self.factor


@register_layer("concat_joint")
class ConcatJoint(LayerSpec):
    """Joint network combination by concatenation: the encoder's and the prediction network's outputs side by side
    (the MLPerf RNN-T's joint), for the layers after it. No weights, no work: both are written into one buffer."""

    kind: Literal["concat_joint"] = Field("concat_joint", description="Layer kind.")
    encoder: Width = Field(description="Width of the encoder's output; at most 1,000,000.")
    prediction: Width = Field(description="Width of the prediction network's output; at most 1,000,000.")

    def output_size(self) -> int:
        return self.encoder + self.prediction


@register_layer("log_softmax")
class LogSoftmax(LayerSpec):
    """Log-softmax over ``dim`` classes (element-wise work only)."""

    kind: Literal["log_softmax"] = Field("log_softmax", description="Layer kind.")
    dim: Width = Field(description="Number of classes normalised; at most 1,000,000.")

    def output_size(self) -> int:
        return self.dim


# ---------------------------------------------------------------- Conformer encoders (Gulati et al. 2020)


@register_layer("conv_subsampling")
class ConvSubsampling(LayerSpec):
    """Convolutional front end: two 3x3 stride-2 Conv2d (+ ReLU) over the (time, feature) plane, then a linear to
    ``output``: 4x fewer frames (the encoder's frames are its output frames)."""

    kind: Literal["conv_subsampling"] = Field("conv_subsampling", description="Layer kind.")
    input: Width = Field(description="Features per input frame (e.g. 80 log-Mel); at most 1,000,000.")
    channels: Width = Field(description="Output channels of both convolutions; at most 1,000,000.")
    output: Width = Field(description="Width of the linear after the convolutions (the model dimension); at most 1,000,000.")
    kernel: ClassVar[int] = 3
    stride: ClassVar[int] = 2
    convs: ClassVar[int] = 2
    subsampling: ClassVar[int] = 4  # stride ** convs

    def feature_bins(self) -> tuple[int, ...]:
        """Feature-axis size after each convolution (no padding)."""
        out, f = [], self.input
        for _ in range(self.convs):
            f = (f - self.kernel) // self.stride + 1
            out.append(f)
        return tuple(out)

    def weights(self):
        k2 = self.kernel ** 2
        return {"conv1": (self.channels, k2), "conv2": (self.channels, self.channels * k2),
                "out": (self.output, self.channels * self.feature_bins()[-1])}

    def bias_params(self) -> int:
        return 2 * self.channels + self.output

    def output_size(self) -> int:
        return self.output


class _Dim(LayerSpec):
    """A layer whose input and output are ``dim`` features (and whose ``heads``, if it has them, divide them)."""

    dim: Width = Field(description="Features in and out; at most 1,000,000.")

    @model_validator(mode="after")
    def _heads_divide_dim(self):
        heads = getattr(self, "heads", 1)
        if self.dim % heads:
            raise ValueError(f"dim {self.dim} is not a multiple of heads {heads}")
        return self

    @property
    def input(self) -> int:
        return self.dim

    def output_size(self) -> int:
        return self.dim


class _ConformerModule(_Dim):
    dim: Width = Field(description="Model dimension (input and output width); at most 1,000,000.")
    encoder_only: ClassVar[bool] = True


@register_layer("conformer_ffn")
class ConformerFFN(_ConformerModule):
    """Half-step feed-forward module: layer norm, linear to ffn_mult x dim, swish, linear back, x 0.5 residual."""

    kind: Literal["conformer_ffn"] = Field("conformer_ffn", description="Layer kind.")
    ffn_mult: int = Field(4, gt=0, le=64, description="Hidden width of the feed-forward module over dim; at most 64.")
    final_norm: bool = Field(False, description="Ends the block: the block's final layer norm follows (the second FFN).")

    def weights(self):
        return {"W1": (self.ffn_mult * self.dim, self.dim), "W2": (self.dim, self.ffn_mult * self.dim)}

    def bias_params(self) -> int:  # the two linears' biases, the layer norm (and the block's final one): FP32
        return self.ffn_mult * self.dim + self.dim + 2 * self.dim * (2 if self.final_norm else 1)


@register_layer("conformer_mhsa")
class ConformerMHSA(_ConformerModule):
    """Multi-head self-attention with relative positional encoding (Transformer-XL style): layer norm, Q/K/V, position
    projection, content and position scores, softmax, context, output projection, residual."""

    kind: Literal["conformer_mhsa"] = Field("conformer_mhsa", description="Layer kind.")
    heads: int = Field(4, gt=0, le=1024, description="Attention heads (dim must be a multiple); at most 1,024.")

    def weights(self):
        d = self.dim
        return {"Wq": (d, d), "Wk": (d, d), "Wv": (d, d), "Wo": (d, d), "Wpos": (d, d)}

    def bias_params(self) -> int:  # Q/K/V/out biases, layer norm, and the content and position biases u, v
        return 4 * self.dim + 2 * self.dim + 2 * self.dim


@register_layer("conformer_conv")
class ConformerConv(_ConformerModule):
    """Convolution module: layer norm, pointwise conv to 2 x dim, GLU, depthwise conv, batch norm, swish, pointwise
    conv, residual."""

    kind: Literal["conformer_conv"] = Field("conformer_conv", description="Layer kind.")
    kernel: int = Field(32, gt=0, le=1024, description="Depthwise convolution kernel (frames); at most 1,024.")

    def weights(self):
        d = self.dim
        return {"pw1": (2 * d, d), "dw": (d, self.kernel), "pw2": (d, d)}

    def bias_params(self) -> int:  # conv biases, layer norm, batch norm (scale and shift; running stats are buffers)
        return 2 * self.dim + self.dim + self.dim + 2 * self.dim + 2 * self.dim


@register_layer("conformer")
class Conformer(LayerSpec):
    """A (stack of) Conformer block(s): FFN/2, self-attention, convolution module, FFN/2, layer norm. Each block
    expands into four layers (name<k>.ffn1, .mhsa, .conv, .ffn2) so precision can differ per module."""

    kind: Literal["conformer"] = Field("conformer", description="Layer kind.")
    dim: Width = Field(description="Model dimension; at most 1,000,000.")
    heads: int = Field(4, gt=0, le=1024, description="Attention heads; at most 1,024.")
    ffn_mult: int = Field(4, gt=0, le=64, description="Feed-forward hidden width over dim; at most 64.")
    kernel: int = Field(32, gt=0, le=1024, description="Depthwise convolution kernel (frames); at most 1,024.")
    count: int = Field(1, gt=0, le=1_000, description="Stacked blocks; at most 1,000.")
    encoder_only: ClassVar[bool] = True

    @model_validator(mode="after")
    def _heads_divide_dim(self):
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not a multiple of heads {self.heads}")
        return self

    @property
    def input(self) -> int:
        return self.dim

    def modules(self, prefix: str) -> list[LayerSpec]:
        d = self.dim
        return [ConformerFFN(name=f"{prefix}.ffn1", dim=d, ffn_mult=self.ffn_mult),
                ConformerMHSA(name=f"{prefix}.mhsa", dim=d, heads=self.heads),
                ConformerConv(name=f"{prefix}.conv", dim=d, kernel=self.kernel),
                ConformerFFN(name=f"{prefix}.ffn2", dim=d, ffn_mult=self.ffn_mult, final_norm=True)]

    def weights(self):
        return {f"{m.name}.{w}": shape for m in self.expand() for w, shape in m.weights().items()}

    def bias_params(self) -> int:
        return sum(m.bias_params() for m in self.expand())

    def expand(self) -> list[LayerSpec]:
        base = self.name or self.kind
        if self.count == 1:
            return self.modules(base)
        return [m for k in range(self.count) for m in self.modules(f"{base}{k + 1}")]

    def output_size(self) -> int:
        return self.dim


# ---------------------------------------------------------------- generic layers (what `accelsim import` maps a graph to)


@register_layer("conv1d")
class Conv1d(LayerSpec):
    """A 1-D convolution over the frames (stride 1, the frame count kept): ``output`` x ``input``/``groups`` x ``kernel``
    weights and a bias; ``groups`` = ``input`` = ``output`` is a depthwise convolution."""

    kind: Literal["conv1d"] = Field("conv1d", description="Layer kind.")
    input: Width = Field(description="Input channels; at most 1,000,000.")
    output: Width = Field(description="Output channels; at most 1,000,000.")
    kernel: int = Field(gt=0, le=1024, description="Kernel width in frames; at most 1,024.")
    groups: int = Field(1, gt=0, le=1_000_000, description="Channel groups (dividing input and output); input for a "
                                                           "depthwise convolution; at most 1,000,000.")
    bias: bool = Field(True, description="Has a bias vector (kept in FP32).")
    encoder_only: ClassVar[bool] = True

    @model_validator(mode="after")
    def _groups_divide(self):
        if self.input % self.groups or self.output % self.groups:
            raise ValueError(f"groups {self.groups} must divide input {self.input} and output {self.output}")
        return self

    @property
    def depthwise(self) -> bool:
        return self.groups == self.input == self.output

    def weights(self):
        return {"W": (self.output, self.input // self.groups * self.kernel)}

    def bias_params(self) -> int:
        return self.output if self.bias else 0

    def output_size(self) -> int:
        return self.output


@register_layer("attention")
class Attention(_Dim):
    """Scaled dot-product self-attention of the frames, without weights (its Q, K, V and output projections are
    linear layers): per head the scores of every frame against the keys, softmax, and the context."""

    kind: Literal["attention"] = Field("attention", description="Layer kind.")
    heads: int = Field(1, gt=0, le=1024, description="Attention heads (dim must be a multiple); at most 1,024.")
    encoder_only: ClassVar[bool] = True


@register_layer("layer_norm")
class LayerNorm(_Dim):
    """Layer normalisation over ``dim`` features: element-wise work, a scale and a shift vector kept in FP32."""

    kind: Literal["layer_norm"] = Field("layer_norm", description="Layer kind.")
    bias: bool = Field(True, description="Has the shift vector (besides the scale).")

    def bias_params(self) -> int:
        return self.dim * (2 if self.bias else 1)


@register_layer("elementwise")
class Elementwise(LayerSpec):
    """Element-wise work on the SFU (activations, residual sums, scaling, batch normalisation): ``ops`` operations per
    input element, and the parameters it reads (scale vectors, running statistics), kept in FP32."""

    kind: Literal["elementwise"] = Field("elementwise", description="Layer kind.")
    input: Width = Field(description="Features in; at most 1,000,000.")
    output: Width | None = Field(None, description="Features out (default: input; a GLU halves them); at most 1,000,000.")
    ops: int = Field(1, gt=0, le=10_000, description="Operations per input element; at most 10,000.")
    fp32_params: int = Field(0, ge=0, le=1_000_000_000,
                             description="Parameters it reads, kept in FP32; at most 1,000,000,000.")

    def bias_params(self) -> int:
        return self.fp32_params

    def output_size(self) -> int:
        return self.output if self.output is not None else self.input
