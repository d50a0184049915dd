"""The message catalogue: every sentence a document prints, in English and Chinese.

Templates look words up here (``msg.key``) and never contain prose of their own, so both
languages come from the same templates. The Chinese terms follow the source tutorials:
前向传播, 反向传播, 误差项, 链式法则, 全导数, 计算图, 学习率, 权重衰减, 激活函数, 损失函数.
Messages are LaTeX text with inline ``$...$`` maths, written here (MathJax reads the same
maths in Markdown); values put into them with ``{...}`` come from the spec and are escaped by
the caller first.
"""

from __future__ import annotations

from types import SimpleNamespace

LANGUAGES = ("en", "zh")

_MESSAGES: dict[str, tuple[str, str]] = {
    # headings
    "title": ("Backpropagation", "反向传播推导"),
    "network": ("The network", "网络结构"),
    "forward": ("Forward pass", "前向传播"),
    "loss": ("The objective", "损失函数"),
    "delta-output": ("Error terms of the output layer", "输出层的误差项"),
    "delta-hidden": ("Error terms of the hidden layers", "隐藏层的误差项"),
    "delta": ("Backward pass", "反向传播"),
    "gradient": ("Gradients and update rules", "梯度与参数更新"),
    "matrix": ("The matrix form", "矩阵形式"),
    "lemmas": ("Derivatives used", "用到的导数"),
    "example": ("A worked example", "数值算例"),
    "appendix": ("Equations in train.py", "公式与 train.py 的对应"),
    # narrative
    "generated_by": ("Derived and checked by symbackprop.", "由 symbackprop 推导并验证。"),
    "layered_intro": (
        "A fully connected network with layer sizes {sizes}; activation functions {activations}; loss function {loss}.",
        "全连接网络，各层单元数 {sizes}；激活函数 {activations}；损失函数 {loss}。",
    ),
    "graph_intro": (
        "A computational graph: each node is computed from the inputs, the parameters and earlier nodes.",
        "计算图：每个节点由输入、参数和前面的节点计算得到。",
    ),
    "node_notation": (
        r"Inputs $x_1, \dots, x_n$ are nodes $1, \dots, n$ and later nodes continue the numbering; $w_{kj}$ is the weight from node $j$ into node $k$ (the later node's index first); $\mathrm{net}_k$ is the weighted input of node $k$, $y_k$ its output, $t_k$ its target, and its error term is $\delta_k = \partial E / \partial \mathrm{net}_k$.",
        r"输入 $x_1, \dots, x_n$ 是节点 $1, \dots, n$，后面的节点继续编号；$w_{kj}$ 是从节点 $j$ 到节点 $k$ 的权重（后一层的下标在前）；$\mathrm{net}_k$ 是节点 $k$ 的加权输入，$y_k$ 是它的输出，$t_k$ 是目标值，误差项 $\delta_k = \partial E / \partial \mathrm{net}_k$。",
    ),
    "layer_notation": (
        r"Layer 1 is the input layer; $W^{(l)}_{ij}$ is the weight from unit $j$ of layer $l$ to unit $i$ of layer $l+1$, $b^{(l)}$ the bias, $z^{(l)}$ the weighted input and $a^{(l)} = f(z^{(l)})$ the activation of layer $l$; $y$ is the target, and $\delta^{(l)} = \partial J / \partial z^{(l)}$ the error term.",
        r"第 1 层是输入层；$W^{(l)}_{ij}$ 是第 $l$ 层单元 $j$ 到第 $l+1$ 层单元 $i$ 的权重，$b^{(l)}$ 是偏置，$z^{(l)}$ 是第 $l$ 层的加权输入，$a^{(l)} = f(z^{(l)})$ 是激活值；$y$ 是目标值，$\delta^{(l)} = \partial J / \partial z^{(l)}$ 是误差项。",
    ),
    "graph_notation": (
        "Each error term is the derivative of the output with respect to a node; it is computed from the output back to the inputs.",
        "每个误差项是输出对某个节点的导数，从输出向输入逐个计算。",
    ),
    "forward_words": (
        "Each node is computed from the values before it, in order, and every value is stored for the backward pass.",
        "按顺序由前面的值计算每个节点，并保存每个值供反向传播使用。",
    ),
    "matrix_words": (
        "For one example, with the layer's values as column vectors:",
        "对一个样本，把每层的值写成列向量：",
    ),
    "loss_words": ("The objective for one example:", "单个样本的损失："),
    "regularisation_words": (
        "Over a batch of $m$ examples the data term $L$ is averaged and the weight-decay term $s$ is added (biases are not decayed): $J = L + s$.",
        "对 $m$ 个样本的批量，数据项 $L$ 取平均，再加上权重衰减项 $s$（偏置不衰减）：$J = L + s$。",
    ),
    "batch_words": (
        "Over a batch of $m$ examples the objective is averaged.",
        "对 $m$ 个样本的批量，损失取平均。",
    ),
    "output_words": (
        "By the chain rule, each output node's error term is the derivative of the loss with respect to its output, times the derivative of its activation function; each factor on its own line:",
        "由链式法则，输出节点的误差项等于损失对输出的导数乘以激活函数的导数；每个因子单独计算：",
    ),
    "hidden_words": (
        "A hidden node's output feeds every node of the next layer, so by the total derivative its error term sums over all of them:",
        "隐藏节点的输出送入下一层的每个节点，因此由全导数，它的误差项要对这些节点求和：",
    ),
    "recursion_words": (
        "So the error terms are computed from the output layer first, then back layer by layer, each from the error terms of the layer after it.",
        "因此误差项先在输出层计算，再逐层向后，每一层由后一层的误差项得到。",
    ),
    "backward_words": (
        "Going backwards from the output, each node's error term sums, over the nodes it feeds, their error term times the local derivative of the edge between them.",
        "从输出向后，每个节点的误差项等于它所连接的后续节点的误差项乘以该边的局部导数，再求和。",
    ),
    "gradient_words": (
        "The gradient of each parameter follows from the error term of the node it feeds, and gradient descent with learning rate {rate} updates it:",
        "每个参数的梯度由它所连接节点的误差项得到，学习率为 {rate} 的梯度下降按下式更新：",
    ),
    "matrix_check": (
        "Each matrix equation below was checked against the per-node equations (component by component, {checks} comparisons) before it was printed.",
        "下面每个矩阵公式在打印之前都已与逐节点公式逐分量核对（共 {checks} 次比较）。",
    ),
    "matrix_check_shortened": (
        "Each kind of matrix equation below was checked against the per-node equations (component by component, {checks} comparisons) before it was printed, on this network with at most {width} units a layer and each run of identical hidden layers cut to {run}: every layer of a run has equations of the same form.",
        "下面每一类矩阵公式在打印之前都已与逐节点公式逐分量核对（共 {checks} 次比较），核对所用的网络每层至多 {width} 个单元，连续相同的隐藏层只保留 {run} 层：同一段中每层的公式形式相同。",
    ),
    "lemma_words": ("The derivatives of the functions this network uses:", "本网络用到的函数的导数："),
    "example_graph_words": (
        "Each node carries its name beside it. Above each wire is the value it carries forward; below it, the gradient that flows back along it, the node's gradient times the local gradient of the wire (as in the CS231n pictures). The gradients on the wires leaving a node add up to that node's gradient:",
        "每个节点旁标出其名称。每条连线上方是它向前传递的值；下方是沿它反向流回的梯度，即所指节点的梯度乘以这条连线的局部梯度（与 CS231n 的图一致）。从一个节点出发的各条连线上的梯度之和等于该节点的梯度：",
    ),
    "gates_words": (
        "Gate patterns: an add gate distributes the gradient unchanged to all its inputs; a multiply gate swaps: each input gets the gradient times the other input; a max gate routes the gradient to the larger input.",
        "门的规律：加法门把梯度原样分给所有输入；乘法门交换：每个输入得到梯度乘以另一个输入；max 门把梯度传给较大的输入。",
    ),
    "example_not_finite": (
        "Some values of this example are not finite numbers: a function is evaluated outside its domain (float64 arithmetic, as train.py computes it).",
        "本例中有些数值不是有限数：某个函数在其定义域之外取值（按 train.py 的 float64 运算）。",
    ),
    "tie_words": (
        "Where the arguments of a max or min are equal, each gets half of the gradient: the step is $H(0) = \\tfrac{1}{2}$.",
        "max 或 min 的参数相等时，每个参数得到一半梯度：阶跃函数取 $H(0) = \\tfrac{1}{2}$。",
    ),
    "no_example": ("The spec gives no example values.", "规格中没有给出样例数值。"),
    "example_too_large": (
        "A table of every value would be too long for this network; train.py computes them.",
        "该网络的数值表太长，从略；train.py 会计算这些值。",
    ),
    "large_words": (
        "This network has {units} nodes: per-node equations are shown in index form for one node of each layer; the matrix form covers them all.",
        "该网络共有 {units} 个节点：每层只以下标形式给出一个代表节点的公式，矩阵形式涵盖全部节点。",
    ),
    "appendix_words": (
        "Each numbered equation and the functions and lines of the generated train.py that compute it: forward and backward compute what they return, step a whole training step from one forward pass.",
        "每个编号公式与生成的 train.py 中计算它的函数和行号：forward 与 backward 计算各自返回的量，step 由一次前向传播完成一整步训练。",
    ),
    "weights_words": ("Weights are labelled on the edges; square nodes are biases.", "边上标出权重；方形节点是偏置。"),
    # Markdown figures (alt text) and the notebook
    "figure_network": ("The network", "网络结构图"),
    "figure_circuit": (
        "The computational graph with the forward values and gradients of the example",
        "计算图及算例的前向传播值与梯度",
    ),
    "notebook_code": ("The generated code", "生成的代码"),
    "notebook_code_words": (
        "The cells below are `train.py`, in order; run them from the top. The comment `# eq. (n)` marks the line that computes equation (n).",
        "下面的单元依次就是 `train.py`；请从上往下运行。注释 `# eq. (n)` 标出计算公式 (n) 的那一行。",
    ),
    "notebook_setup": ("Imports and constants", "导入与常量"),
    "notebook_helpers": ("Helper functions", "辅助函数"),
    "notebook_loss": ("The objective as a number", "损失函数的数值"),
    "notebook_step": ("One step of gradient descent", "一步梯度下降"),
    "notebook_train": ("The training loop", "训练循环"),
    "notebook_initial": ("The example's data and initial parameters", "样例数据与初始参数"),
    "notebook_main": ("Training on the example", "在样例上训练"),
    "notebook_check": ("Gradient check", "梯度检验"),
    "notebook_check_words": (
        "The gradients `backward` returns at the example, entry by entry (of a large parameter its {half} largest entries and {half} spread over it), against central finite differences of `loss`; the relative error of an entry is $|a - n| / \\max(|a|, |n|)$, with the denominator never below a thousandth of the largest entry of that gradient.",
        "在样例处逐个分量比较 `backward` 给出的梯度与 `loss` 的中心差分（较大的参数取其最大的 {half} 个分量和均匀分布的 {half} 个分量）；一个分量的相对误差为 $|a - n| / \\max(|a|, |n|)$，分母不小于该梯度最大分量的千分之一。",
    ),
    "notebook_check_row": ("{name}: largest relative error {error:.1e}", "{name}：最大相对误差 {error:.1e}"),
    "notebook_check_passed": (
        "Gradient check passed: every gradient agrees with finite differences.",
        "梯度检验通过：每个梯度都与有限差分一致。",
    ),
    "notebook_check_failed": (
        "Gradient check failed: a gradient disagrees with finite differences.",
        "梯度检验未通过：有梯度与有限差分不一致。",
    ),
    # table headers
    "col_equation": ("Equation", "公式"),
    "col_lines": ("Function and line of train.py", "train.py 中的函数与行号"),
    "col_value": ("Value", "数值"),
    "col_gradient": ("Gradient", "梯度"),
    "col_updated": ("After one update", "更新一次后"),
    "forward_values": ("Forward values", "前向传播的值"),
    "backward_values": ("Error terms and gradients", "误差项与梯度"),
    # reasons printed beside the steps
    "reason-definition": ("definition", "定义"),
    "reason-chain-rule": ("chain rule", "链式法则"),
    "reason-total-derivative": ("total derivative", "全导数"),
    "reason-deltas-by-symbol": ("error terms of the next layer", "后一层的误差项"),
    "reason-loss-derivative": ("derivative of the loss", "损失函数的导数"),
    "reason-activation-derivative": ("derivative of the activation", "激活函数的导数"),
    "reason-local-gradients": ("local gradients", "局部梯度"),
    "reason-expand": ("expand", "展开"),
    "reason-collect": ("collect", "合并"),
    "reason-targets-sum-to-one": ("targets sum to one", "目标值之和为 1"),
    "reason-simplify": ("simplify", "化简"),
    # names of things
    "input": ("input", "输入层"),
    "hidden": ("hidden", "隐藏层"),
    "output": ("output", "输出层"),
}


def catalogue(lang: str) -> SimpleNamespace:
    """All messages in one language, as attributes (``msg.forward``)."""
    if lang not in LANGUAGES:
        raise KeyError(f"unknown language {lang!r}; known: {', '.join(LANGUAGES)}")
    index = LANGUAGES.index(lang)
    return SimpleNamespace(**{key.replace("-", "_"): pair[index] for key, pair in _MESSAGES.items()})
