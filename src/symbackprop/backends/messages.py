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
    "title_colon": (": ", "："),
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
    "list_separator": (", ", "、"),
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
        r"第 1 层是输入层；$W^{(l)}_{ij}$ 是第 $l$ 层单元 $j$ 到第 $l+1$ 层单元 $i$ 的权重，$b^{(l)}$ 是偏置，$z^{(l)}$ 是第 $l$ 层的加权输入，$a^{(l)} = f(z^{(l)})$ 是激活值；$y$ 是目标值，$\delta^{(l)} = \partial J / \partial z^{(l)}$ 是误差项（UFLDL 称之为残差）。",
    ),
    "graph_notation": (
        "The gradient of the output with respect to a node is the derivative of the output with respect to that node; the gradients are computed from the output back to the inputs. The derivative of a node with respect to one of its own inputs is a local gradient.",
        "输出对某个节点的梯度就是输出对该节点的导数；梯度从输出向输入逐个计算。节点对它自己某个输入的导数称为局部梯度。",
    ),
    "forward_words": (
        "Each node is computed from the values before it, in order, and every value is stored for the backward pass.",
        "按顺序由前面的值计算每个节点，并保存每个值供反向传播使用。",
    ),
    "matrix_words": (
        r"In matrix form, with each layer's values as a column vector of one example; where a formula averages over a batch, $\sum_{{i=1}}^{{m}}$ runs over its $m$ examples, and each quantity of example $i$ inside the sum carries its index ({examples}) while the parameters carry none:",
        r"矩阵形式，每层的值写成单个样本的列向量；对批量求平均的公式中，$\sum_{{i=1}}^{{m}}$ 遍历批量中的 $m$ 个样本，求和式中样本 $i$ 的量都带上它的序号（{examples}），参数则不带：",
    ),
    "matrix_words_forward": (
        "In matrix form, with each layer's values as a column vector of one example:",
        "矩阵形式，每层的值写成单个样本的列向量：",
    ),
    "d2l_example_loss": (
        r"As in d2l's minibatch gradient descent, ${loss}$ is the loss of example $i$, so that $L = \frac{{1}}{{m}} \sum_{{i=1}}^{{m}} {loss}$, and ${gradient}$ is ${one}$ above for example $i$; the objective's own $\frac{{\partial J}}{{\partial {output}}}$ is $\frac{{1}}{{m}}$ of it, $J$ being the mean over the batch.",
        r"与 d2l 的小批量梯度下降一样，${loss}$ 是样本 $i$ 的损失，于是 $L = \frac{{1}}{{m}} \sum_{{i=1}}^{{m}} {loss}$；${gradient}$ 就是上文样本 $i$ 的 ${one}$。目标函数本身的 $\frac{{\partial J}}{{\partial {output}}}$ 是它的 $\frac{{1}}{{m}}$，因为 $J$ 是对批量的平均。",
    ),
    "input_gradient_words": (
        r"In ({number}), ${gradient}$ is the gradient with respect to the input of example $i$: ${objective}$ averages over the $m$ examples, hence its $\frac{{1}}{{m}}$, which the per-node equations, written for one example ($m = 1$), do not show.",
        r"式 ({number}) 中，${gradient}$ 是对样本 $i$ 的输入的梯度：${objective}$ 对 $m$ 个样本取平均，所以带有 $\frac{{1}}{{m}}$；逐节点公式是对单个样本（$m = 1$）写的，因而没有这一项。",
    ),
    "stacked_words": (
        r"The node-numbered source writes the same thing with the bias as a weight on a constant input 1: node {unit} has the weights $w_{{{unit}}} = [{weights}, w_{{b{unit}}}]^T$ with $w_{{b{unit}}} = {bias}$, the input gets a 1, $x = [{inputs}, 1]^T$, and $y_{{{unit}}} = f(w_{{{unit}}}^T x)$. Stacked for whole layers, $y_{{\text{{hidden}}}} = f(W_{{\text{{hidden}}}} x)$ and $y_{{\text{{out}}}} = f(W_{{\text{{out}}}} [y_{{\text{{hidden}}}}; 1])$, where $W_{{\text{{hidden}}}} = [W^{{(1)}} \; b^{{(1)}}]$ and $W_{{\text{{out}}}} = [W^{{(2)}} \; b^{{(2)}}]$ are the matrices below with the bias vector as one more column; the layer form below keeps $W^{{(l)}}$ and $b^{{(l)}}$ apart.",
        r"按节点编号的原文把偏置写成常数输入 1 上的权重：节点 {unit} 的权重为 $w_{{{unit}}} = [{weights}, w_{{b{unit}}}]^T$，其中 $w_{{b{unit}}} = {bias}$，输入补一个 1，$x = [{inputs}, 1]^T$，于是 $y_{{{unit}}} = f(w_{{{unit}}}^T x)$。按层堆叠，$y_{{\text{{hidden}}}} = f(W_{{\text{{hidden}}}} x)$，$y_{{\text{{out}}}} = f(W_{{\text{{out}}}} [y_{{\text{{hidden}}}}; 1])$，其中 $W_{{\text{{hidden}}}} = [W^{{(1)}} \; b^{{(1)}}]$、$W_{{\text{{out}}}} = [W^{{(2)}} \; b^{{(2)}}]$ 就是下面的矩阵再加上偏置向量这一列；下面的分层形式把 $W^{{(l)}}$ 与 $b^{{(l)}}$ 分开写。",
    ),
    "loss_words": ("The objective for one example:", "单个样本的损失："),
    "regularisation_words": (
        r"Over a batch of $m$ examples the data term $L$ is averaged and the weight-decay term $s$ is added (biases are not decayed): $J = L + s$, with $\lambda = {decay}$ here. $\|W\|_F^2 = \sum_{{i,j}} W_{{ij}}^2$ is the squared Frobenius norm, the sum of the squares of all the entries, and $\odot$ is the elementwise product of two vectors.",
        r"对 $m$ 个样本的批量，数据项 $L$ 取平均，再加上权重衰减项 $s$（偏置不衰减）：$J = L + s$，这里 $\lambda = {decay}$。$\|W\|_F^2 = \sum_{{i,j}} W_{{ij}}^2$ 是 Frobenius 范数的平方，即所有元素的平方和；$\odot$ 表示两个向量逐元素相乘。",
    ),
    "ufldl_costs": (
        r"In UFLDL's names, the cost of one example is $J(W,b;x,y)$, the data term $L$ of that one example ($m = 1$), and the overall cost is $J(W,b) = \frac{{1}}{{m}} \sum_{{i=1}}^{{m}} J(W,b;x^{{(i)}},y^{{(i)}}) + s$, which is $J$ here.",
        r"按 UFLDL 的记号，单个样本的代价是 $J(W,b;x,y)$，即这一个样本的数据项 $L$（$m = 1$）；整体代价是 $J(W,b) = \frac{{1}}{{m}} \sum_{{i=1}}^{{m}} J(W,b;x^{{(i)}},y^{{(i)}}) + s$，也就是这里的 $J$。",
    ),
    "batch_words": (
        r"Over a batch of $m$ examples the objective is averaged; $\odot$ is the elementwise product of two vectors.",
        r"对 $m$ 个样本的批量，损失取平均；$\odot$ 表示两个向量逐元素相乘。",
    ),
    "output_words": (
        "By the chain rule, each output node's error term is the derivative of the loss with respect to its output, times the derivative of its activation function; each factor on its own line:",
        "由链式法则，输出节点的误差项等于损失对输出的导数乘以激活函数的导数；每个因子单独计算：",
    ),
    "hidden_words": (
        "A hidden node's output feeds every node of the next layer, so by the total derivative its error term sums over all of them:",
        "隐藏节点的输出送入下一层的每个节点，因此由全导数，它的误差项要对这些节点求和：",
    ),
    "general_words": ("In general:", "一般地："),
    "general_output_node": (
        r"\[ \delta_k = \frac{\partial E}{\partial y_k} f'(\mathrm{net}_k) \quad \text{for } k \in \text{outputs} \]",
        r"\[ \delta_k = \frac{\partial E}{\partial y_k} f'(\mathrm{net}_k) \quad \text{对于 } k \in \text{输出层} \]",
    ),
    "general_hidden_node_outputs": (
        r"\[ \delta_j = f'(\mathrm{net}_j) \sum_{k \in \text{outputs}} \delta_k w_{kj} \quad \text{for } j \in \text{hidden} \]",
        r"\[ \delta_j = f'(\mathrm{net}_j) \sum_{k \in \text{输出层}} \delta_k w_{kj} \quad \text{对于 } j \in \text{隐藏层} \]",
    ),
    "general_hidden_node": (
        r"\[ \delta_j = f'(\mathrm{net}_j) \sum_{k} \delta_k w_{kj} \quad \text{for } j \in \text{hidden} \]",
        r"\[ \delta_j = f'(\mathrm{net}_j) \sum_{k} \delta_k w_{kj} \quad \text{对于 } j \in \text{隐藏层} \]",
    ),
    "general_sum_words": (
        "(the sum runs over the nodes $k$ that node $j$ feeds).",
        "（求和遍历节点 $j$ 送入的所有节点 $k$）。",
    ),
    "general_output_layer": (
        r"\[ \delta^{(n_l)}_i = \frac{\partial J}{\partial a^{(n_l)}_i} f'\left(z^{(n_l)}_i\right) \]",
        r"\[ \delta^{(n_l)}_i = \frac{\partial J}{\partial a^{(n_l)}_i} f'\left(z^{(n_l)}_i\right) \]",
    ),
    "general_hidden_layer": (
        r"for every hidden layer $l$, unit by unit and as vectors ($\bullet$, also written $\odot$, is the elementwise product): \[ \delta^{(l)}_i = \left(\sum_{j=1}^{s_{l+1}} W^{(l)}_{ji} \delta^{(l+1)}_j\right) f'\left(z^{(l)}_i\right) \] \[ \delta^{(l)} = \left(\left(W^{(l)}\right)^T \delta^{(l+1)}\right) \bullet f'\left(z^{(l)}\right) \]",
        r"对每个隐藏层 $l$，逐单元与向量形式（$\bullet$ 也写作 $\odot$，表示逐元素相乘）： \[ \delta^{(l)}_i = \left(\sum_{j=1}^{s_{l+1}} W^{(l)}_{ji} \delta^{(l+1)}_j\right) f'\left(z^{(l)}_i\right) \] \[ \delta^{(l)} = \left(\left(W^{(l)}\right)^T \delta^{(l+1)}\right) \bullet f'\left(z^{(l)}\right) \]",
    ),
    "recursion_words": (
        "So the error terms are computed from the output layer first, then back layer by layer, each from the error terms of the layer after it.",
        "因此误差项先在输出层计算，再逐层向后，每一层由后一层的误差项得到。",
    ),
    "backward_words": (
        "Going backwards from the output, the gradient of each node sums, over the nodes it feeds, their gradient times the local gradient of the edge between them (the chain rule).",
        "从输出向后，每个节点的梯度等于它所连接的后续节点的梯度乘以该边的局部梯度，再求和（链式法则）。",
    ),
    "gradient_words": (
        "The gradient of each parameter follows from the error term of the node it feeds, and gradient descent with learning rate {rate} updates it; like every per-node equation, these are written for one example ($m = 1$):",
        "每个参数的梯度由它所连接节点的误差项得到，学习率为 {rate} 的梯度下降按下式更新；与所有逐节点公式一样，这里写的是单个样本（$m = 1$）：",
    ),
    "matrix_check": (
        "Each matrix equation below was checked against the per-node equations (component by component, {checks} comparisons) before it was printed.",
        "下面每个矩阵公式在打印之前都已与逐节点公式逐分量核对（共 {checks} 次比较）。",
    ),
    "index_heading": ("Entry by entry", "逐个分量"),
    "index_words": (
        "First the equations of each layer one entry at a time, as the teaching material writes them, for one example (the batch averages them, as the tensor forms of the next sections say). Indices count from 0, as in PyTorch. On the right of each line, the tensor equation it writes out.",
        "先按教材的写法逐个分量写出各层的公式，针对单个样本（批量取其平均，见后面几节的张量形式）。下标从 0 起，与 PyTorch 相同。每行右侧是它所展开的张量公式。",
    ),
    "index_conv_words": (
        "In a feature map, $x_{c,i,j}$ is channel $c$, row $i$, column $j$; $W_{f,c,u,v}$ is the weight of kernel $f$ on channel $c$ at offset $(u, v)$. An entry outside its map is zero: the zero padding of a convolution's input, and in the input's error term the entries of $\\delta$ beyond the border, which makes that sum the full convolution of $\\delta$ with the kernel rotated by 180 degrees.",
        "特征图中，$x_{c,i,j}$ 是第 $c$ 个通道第 $i$ 行第 $j$ 列的分量，$W_{f,c,u,v}$ 是第 $f$ 个卷积核在通道 $c$、偏移 $(u, v)$ 处的权重。特征图范围之外的分量为零：卷积输入的零填充，以及输入误差项中越过边界的 $\\delta$ 分量，正因如此这个和式是 $\\delta$ 与旋转 180 度的卷积核的完全卷积。",
    ),
    "index_skipped": (
        "Stated in tensor form only, with their words there: {ops}.",
        "以下只给出张量形式，说明见相应公式：{ops}。",
    ),
    "index_maxpool_words": (
        r"Max pooling sends $\delta$ to the maximum of each window: $[a = b]$ is 1 where $a$ equals $b$ and 0 elsewhere, and row $i$ of a map lies in window row $\lfloor i/{size} \rfloor$. Where entries of a window tie (zeros from a ReLU), the derivative with respect to them does not exist; the tensor form sends $\delta$ to the first of them.",
        r"最大池化把 $\delta$ 传给每个窗口的最大值：$[a = b]$ 在 $a$ 等于 $b$ 时为 1，否则为 0；特征图的第 $i$ 行属于第 $\lfloor i/{size} \rfloor$ 行窗口。窗口中有并列的分量时（例如 ReLU 输出的零），对它们的导数不存在；张量形式把 $\delta$ 传给其中第一个。",
    ),
    "index_only_tensor_maxpool2d": (
        "max pooling's error term, which goes to the maximum of each window",
        "最大池化的误差项，它只传给每个窗口的最大值",
    ),
    "index_only_tensor_avgpool2d": (
        "average pooling's error term, spread evenly over each window",
        "平均池化的误差项，它均匀分给窗口中的每个分量",
    ),
    "index_only_tensor_batchnorm": (
        "batch norm, whose mean and variance are taken over the batch",
        "批归一化，它的均值和方差取自整个批量",
    ),
    "index_only_tensor_layernorm": (
        "layer norm, whose mean and variance are taken over each example's entries",
        "层归一化，它的均值和方差取自每个样本的全部分量",
    ),
    "index_forward": ("The forward pass:", "前向传播："),
    "index_delta": ("The error terms, back from the output:", "误差项，从输出层往回："),
    "index_gradient": ("The gradients:", "梯度："),
    "layers_update_words": (
        "The gradient of each parameter follows from the error term of the node it feeds, averaged over the batch, and gradient descent with learning rate {rate} updates it:",
        "每个参数的梯度由它所连接节点的误差项得到，并对批量取平均；学习率为 {rate} 的梯度下降按下式更新它：",
    ),
    "layers_check": (
        "Each tensor equation below was checked against the per-unit derivation before it was printed: every entry of every value, error term and gradient of a batch of {batch} examples, written out one unit at a time and differentiated by the scalar engine, at {points} random points ({checks} comparisons).",
        "下面每个张量公式在打印之前都已与逐单元推导核对：把 {batch} 个样本的批量逐个单元写出、由标量引擎求导，在 {points} 个随机点上比较每个值、误差项和梯度的每个分量（共 {checks} 次比较）。",
    ),
    "layers_check_smaller": (
        "Each tensor equation below was checked against the per-unit derivation before it was printed, on a smaller network with the same layers (input {shape}, at most 2 channels a convolution and 3 units a hidden dense layer; the equations do not depend on the sizes): every entry of every value, error term and gradient of a batch of {batch} examples, written out one unit at a time and differentiated by the scalar engine, at {points} random points ({checks} comparisons).",
        "下面每个张量公式在打印之前都已与逐单元推导核对，所用的是层相同而规模更小的网络（输入 {shape}，每个卷积至多 2 个通道，每个隐藏全连接层至多 3 个单元；公式与规模无关）：把 {batch} 个样本的批量逐个单元写出、由标量引擎求导，在 {points} 个随机点上比较每个值、误差项和梯度的每个分量（共 {checks} 次比较）。",
    ),
    "matrix_check_shortened": (
        "Each kind of matrix equation below was checked against the per-node equations (component by component, {checks} comparisons) before it was printed, on this network with at most {width} units a layer and each run of identical hidden layers cut to {run}: every layer of a run has equations of the same form.",
        "下面每一类矩阵公式在打印之前都已与逐节点公式逐分量核对（共 {checks} 次比较），核对所用的网络每层至多 {width} 个单元，连续相同的隐藏层只保留 {run} 层：同一段中每层的公式形式相同。",
    ),
    "lemma_words": ("The derivatives of the functions this network uses:", "本网络用到的函数的导数："),
    "example_graph_words": (
        "Each node carries its name beside it. Above each wire is the value it carries forward; below it, the gradient that flows back along it: the gradient of the node it enters times the wire's local gradient (as in the CS231n pictures). The gradients on the wires leaving a node add up to that node's gradient:",
        "每个节点旁标出其名称。每条连线上方是它向前传递的值；下方是沿它反向流回的梯度，即所指节点的梯度乘以这条连线的局部梯度（与 CS231n 的图一致）。从一个节点出发的各条连线上的梯度之和等于该节点的梯度：",
    ),
    "gates_words": (
        "Three gates recur in every graph, each passing the gradient of its output $c$ back to its inputs in its own way: an add gate distributes the gradient unchanged to all its inputs; a multiply gate swaps: each input gets the gradient times the other input's value; a max gate routes the gradient to the larger input and gives the other zero.",
        "有三种门在各种计算图中反复出现，各自以自己的方式把输出 $c$ 的梯度传回输入：加法门把梯度原样分给所有输入；乘法门交换：每个输入得到梯度乘以另一个输入的值；max 门把梯度全部传给较大的输入，另一个输入得到零。",
    ),
    "example_not_finite": (
        "Some values of this example are not finite numbers: a function is evaluated outside its domain (float64 arithmetic, as train.py computes it).",
        "本例中有些数值不是有限数：某个函数在其定义域之外取值（按 train.py 的 float64 运算）。",
    ),
    "tie_words": (
        "Where the arguments of a max or min are equal, each gets half of the gradient: the step is $H(0) = \\tfrac{1}{2}$.",
        "max 或 min 的参数相等时，每个参数得到一半梯度：阶跃函数取 $H(0) = \\tfrac{1}{2}$。",
    ),
    # computational graphs: headings, gradients, gate patterns, branches, collapse, paths and modes
    "graph_heading": ("Computational graph", "计算图"),
    "graph_gradient": ("Gradients with respect to the inputs", "对输入的梯度"),
    "graph_gradient_parameters": ("Gradients with respect to the inputs and parameters", "对输入与参数的梯度"),
    "graph_gradient_words": (
        "By the chain rule, the gradient of the output with respect to each input and parameter is the gradient of the node it feeds times the local gradient of the edge between them, summed over the nodes it feeds:",
        "由链式法则，输出对每个输入和参数的梯度，等于它所连接节点的梯度乘以该边的局部梯度，再对它连接的节点求和：",
    ),
    "no_training_words": (
        "Nothing is trained here (the output is not a loss to minimise): there is no learning rate and no update rule.",
        "这里没有训练（输出不是要最小化的损失）：没有学习率，也没有参数更新规则。",
    ),
    "graph_backward_values": ("Gradients", "梯度"),
    "graph_update_words": (
        "Gradient descent with learning rate {rate} then updates each trainable parameter:",
        "然后以学习率 {rate} 的梯度下降更新每个可训练参数：",
    ),
    "gates_heading": ("Patterns in the backward flow", "反向传播中的模式"),
    "col_gate": ("Gate", "门"),
    "col_pattern": ("Name", "名称"),
    "col_rule": ("Backward rule", "反向传播规则"),
    "gate_add_form": ("$c = a + b$", "$c = a + b$"),
    "gate_add_name": ("gradient distributor", "梯度分发器"),
    "gate_add_rule": (
        r"$\frac{\partial f}{\partial a} = \frac{\partial f}{\partial b} = \frac{\partial f}{\partial c}$",
        r"$\frac{\partial f}{\partial a} = \frac{\partial f}{\partial b} = \frac{\partial f}{\partial c}$",
    ),
    "gate_mul_form": ("$c = a b$", "$c = a b$"),
    "gate_mul_name": ("gradient swapper", "梯度交换器"),
    "gate_mul_rule": (
        r"$\frac{\partial f}{\partial a} = b \, \frac{\partial f}{\partial c}$, $\frac{\partial f}{\partial b} = a \, \frac{\partial f}{\partial c}$",
        r"$\frac{\partial f}{\partial a} = b \, \frac{\partial f}{\partial c}$，$\frac{\partial f}{\partial b} = a \, \frac{\partial f}{\partial c}$",
    ),
    "gate_max_form": (r"$c = \max(a, b)$", r"$c = \max(a, b)$"),
    "gate_max_name": ("gradient router", "梯度路由器"),
    "gate_max_rule": (
        r"$\frac{\partial f}{\partial a} = \frac{\partial f}{\partial c}$ if $a > b$, else $0$",
        r"$a > b$ 时 $\frac{\partial f}{\partial a} = \frac{\partial f}{\partial c}$，否则为 $0$",
    ),
    "gates_here_words": (
        "The gates of this graph at the example, with the gradient of each gate's output and what each of its inputs receives from it ({out} is the output of the graph):",
        "本例计算图中的各个门：每个门输出的梯度，以及它的每个输入从它得到的梯度（{out} 是计算图的输出）：",
    ),
    "col_gate_gradient": ("Gradient at its output", "输出处的梯度"),
    "col_gate_input": ("Input", "输入"),
    "col_gate_receives": ("Gradient it receives", "得到的梯度"),
    "branches_heading": ("Caching, and adding gradients at branches", "缓存前向值，分支处梯度相加"),
    "branches_words": (
        "The forward pass caches every value and the backward pass reads the cache: each local gradient below is computed from stored values, none is recomputed. A variable that feeds several nodes receives a gradient from each of them, and the contributions add up (the += of CS231n's staged code; an = instead would keep only the last one):",
        "前向传播缓存每个值，反向传播读取缓存：下面每个局部梯度都由保存的值计算，不重新计算。一个变量连接多个节点时，从每个节点都得到一份梯度，这些贡献要相加（即 CS231n 分步代码中的 +=；若写成 = 就只剩最后一份）：",
    ),
    "col_term": ("Term", "项"),
    "col_local": ("Local gradient", "局部梯度"),
    "col_contribution": ("Contribution", "贡献"),
    "branch_total": ("in all: {total}", "合计：{total}"),
    "product_size": ("{product}: {size}", "{product}：{size}"),
    "collapse_heading": ("From gates to one gate", "把多个门合并成一个门"),
    "collapse_words": (
        "The gates {gates} together compute {composed}: one {gate} gate can replace them. Their local gradients, multiplied along the chain, give the local gradient of that one gate:",
        "门 {gates} 合起来计算 {composed}：可以用一个 {gate} 门代替它们。沿这条链把它们的局部梯度相乘，就得到这一个门的局部梯度：",
    ),
    "col_expression": ("Expression", "表达式"),
    "collapse_local": (
        "The {gate} gate's own local gradient, written in its output value as its lemma in the section on the derivatives used derives it, is {local}: the same number.",
        "{gate} 门自己的局部梯度，按“用到的导数”一节中的引理写成输出值的形式，是 {local}：数值相同。",
    ),
    "col_gate_by_gate": ("Gate by gate", "逐门计算"),
    "col_one_gate": ("One {gate} gate", "一个 {gate} 门"),
    "collapse_agree": ("The two circuits give the same gradients.", "两个电路给出相同的梯度。"),
    "collapse_disagree": ("The two circuits give different gradients.", "两个电路给出的梯度不同。"),
    "paths_heading": ("Paths and modes", "路径与模式"),
    "paths_words": (
        "The derivative of the output with respect to an input is the sum, over every path from the input to the output, of the product of the local gradients on the path's edges:",
        "输出对某个输入的导数，等于从该输入到输出的每条路径上各边局部梯度之积，再对所有路径求和：",
    ),
    "col_path": ("Path", "路径"),
    "col_factors": ("Local gradients along it", "路径上的局部梯度"),
    "col_product": ("Product", "乘积"),
    "paths_too_many": (
        "This graph has {count} paths from its inputs to its output, too many to list; reverse accumulation below sums them all.",
        "该计算图从输入到输出共有 {count} 条路径，太多，从略；下面的反向累积对它们全部求和。",
    ),
    "shared_words": (
        "Summing path by path repeats work, because paths share sub-paths. Reverse accumulation computes the same sum factored: the gradient of the output with respect to each node once, reused by every path through that node:",
        "逐条路径求和会重复计算，因为路径之间有公共的子路径。反向累积计算的是同一个和的分解形式：输出对每个节点的梯度只算一次，经过该节点的每条路径都复用它：",
    ),
    "col_node": ("Node", "节点"),
    "col_paths_through": ("Paths through it", "经过它的路径数"),
    "col_once": ("Computed once", "只算一次"),
    "modes_words": (
        "Forward mode pushes the derivative with respect to one input through the graph, node by node, from the inputs to the output (one pass per input); reverse mode pulls the derivative of one output back through it (one pass per output). At the example, for every variable $v$:",
        "前向模式把对某一个输入的导数从输入到输出逐个节点推过计算图（每个输入一遍）；反向模式把某一个输出的导数向后拉回（每个输出一遍）。在算例处，对每个变量 $v$：",
    ),
    "col_variable": ("Variable", "变量"),
    "modes_columns_cut": (
        "The forward-mode columns are shown for the first {shown} of the {count} leaves; each of the others needs a pass of its own too.",
        "前向模式只列出 {count} 个叶节点中前 {shown} 个的列；其余每个叶节点也各需要一遍。",
    ),
    "col_forward_mode": ("Forward mode, one pass per input", "前向模式，每个输入一遍"),
    "col_reverse_mode": ("Reverse mode, one pass", "反向模式，一遍"),
    "passes_words": (
        "The output's row of the forward-mode columns and the leaves' rows of the reverse-mode column hold the same gradients. This graph has {leaves} and one output {out}: forward mode needs {forward} passes to give every gradient, reverse mode {reverse}.",
        "前向模式各列中输出所在的行，与反向模式一列中各叶节点所在的行，是同样的梯度。该计算图有{leaves}和一个输出 {out}：要得到全部梯度，前向模式需要 {forward} 遍，反向模式只需 {reverse} 遍。",
    ),
    "leaves_inputs": ("{n} inputs", " {n} 个输入"),
    "leaves_inputs_parameters": (
        "{n} leaves ({inputs} inputs, {parameters} parameters)",
        " {n} 个叶节点（{inputs} 个输入、{parameters} 个参数）",
    ),
    "passes_million": (
        "A network with {parameters} parameters and one loss needs {forward} forward-mode passes against {reverse} reverse-mode pass: that is why backpropagation runs in reverse mode.",
        "一个有 {parameters} 个参数、一个损失的网络，前向模式需要 {forward} 遍，反向模式只需 {reverse} 遍：这就是反向传播采用反向模式的原因。",
    ),
    "matrix_rule_heading": ("The multiply gate for matrices", "矩阵的乘法门"),
    "matrix_rule_words": (
        "For matrices the multiply gate is a matrix product $D = W X$. CS231n takes $W$ of size {w} and $X$ of size {x}, so $D$ and its gradient $dD = \\partial f / \\partial D$ are {d}. The gradient of each factor has the factor's size, and of the products of $dD$ with the other factor (either one transposed, in either order) only one has that size: the only way the dimensions work out. So the swap becomes $dW = dD\\,X^T$ and $dX = W^T dD$:",
        "对矩阵，乘法门是矩阵乘积 $D = W X$。CS231n 取 $W$ 为 {w}、$X$ 为 {x}，于是 $D$ 和它的梯度 $dD = \\partial f / \\partial D$ 都是 {d}。每个因子的梯度与该因子尺寸相同；$dD$ 与另一个因子（任一个可以转置，顺序任意）的乘积中，只有一个尺寸相符：维数只有这一种对得上。于是交换规则变为 $dW = dD\\,X^T$、$dX = W^T dD$：",
    ),
    "col_size": ("Its size", "尺寸"),
    "col_conforming": ("Products whose sizes conform", "尺寸相容的乘积"),
    "col_fits": ("The one of that size", "尺寸相符的那一个"),
    "matrix_rule_checked": (
        "SymPy checks the rule entry by entry on these sizes: for $f = \\sum_{{i,j}} dD_{{ij}} D_{{ij}}$, whose gradient with respect to $D$ is $dD$, the derivative of $f$ with respect to each entry equals the entry of the product in {w_entries} of the {w_total} entries of $dW$ and {x_entries} of the {x_total} of $dX$.",
        "SymPy 在这些尺寸上逐个元素核对：对 $f = \\sum_{{i,j}} dD_{{ij}} D_{{ij}}$（它对 $D$ 的梯度就是 $dD$），$f$ 对每个元素的导数等于乘积的对应元素：$dW$ 的 {w_total} 个元素中有 {w_entries} 个，$dX$ 的 {x_total} 个元素中有 {x_entries} 个。",
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
    # networks of layers ([[layers]] specs)
    "layers_intro": (
        "A network of layers: {layers}; each example's input is {shape}; loss function {loss}.",
        "由若干层组成的网络：{layers}；每个样本的输入为 {shape}；损失函数 {loss}。",
    ),
    # a network of layers' notation, backward and gradient words, one piece per layer kind that
    # needs one (the document joins those of the kinds it has: a residual block's says nothing
    # of convolutions); the keys after the prefix are "base", "end" or a group of layer types
    "layers_notation_base": (
        r"Layer $l$ is the $l$-th layer of the list and $a^{(0)} = x$ the input; $z^{(l)}$ is a layer's weighted input and $a^{(l)} = f(z^{(l)})$ its output, $W^{(l)}$ its weights",
        r"第 $l$ 层是列表中的第 $l$ 层，$a^{(0)} = x$ 是输入；$z^{(l)}$ 是该层的加权输入，$a^{(l)} = f(z^{(l)})$ 是它的输出，$W^{(l)}$ 是权重",
    ),
    "layers_notation_conv": (
        r" or kernels (a kernel has shape $(F, C, k, k)$, as in PyTorch)",
        r"或卷积核（卷积核形状为 $(F, C, k, k)$，与 PyTorch 相同）",
    ),
    "layers_notation_bias": (r", $b^{(l)}$ its bias", r"，$b^{(l)}$ 是偏置"),
    "layers_notation_norm": (
        r", $\gamma^{(l)}, \beta^{(l)}$ the scale and shift of a normalisation, $\hat{x}^{(l)}$ its normalised input",
        r"，$\gamma^{(l)}, \beta^{(l)}$ 是归一化的缩放与平移，$\hat{x}^{(l)}$ 是归一化后的输入",
    ),
    "layers_notation_dropout": (r", $r^{(l)}$ a dropout mask", r"，$r^{(l)}$ 是随机失活的掩码"),
    "layers_notation_residual": (
        r"; a residual block's own layers are $(l,1), (l,2), \dots$",
        r"；残差块内部的层记为 $(l,1), (l,2), \dots$",
    ),
    "layers_notation_tensor": (r". Each symbol is one example's tensor", r"。每个符号是一个样本的张量"),
    "layers_notation_map": (
        r": a vector, or a feature map of shape (channels, height, width). $\operatorname{conv}(a, W)$ is the cross-correlation of $a$ with the kernels $W$ (what a convolutional layer computes; $s$ its stride, $p$ its zero padding).",
        r"：向量，或形状为（通道，高，宽）的特征图。$\operatorname{conv}(a, W)$ 是 $a$ 与卷积核 $W$ 的互相关（卷积层计算的就是它；$s$ 为步幅，$p$ 为零填充）。",
    ),
    "layers_notation_vector": (r", a vector.", r"，即一个向量。"),
    "layers_notation_flatten": (
        r" $\operatorname{vec}$ flattens a map into a vector.",
        r"$\operatorname{vec}$ 把特征图展平成向量。",
    ),
    "layers_notation_batchnorm": (
        r" $\mu_B$ and $\sigma_B^2$ are the mean and variance over the batch.",
        r"$\mu_B$ 与 $\sigma_B^2$ 是批内的均值与方差。",
    ),
    "layers_notation_end": (
        r" The error term is $\delta^{(l)} = \partial J / \partial z^{(l)}$ per example, and $y$ is the target.",
        r"误差项 $\delta^{(l)} = \partial J / \partial z^{(l)}$ 按样本计算，$y$ 是目标值。",
    ),
    "layers_backward_base": (
        r"From the output back, each error term follows from the one after it by the rule of the layer between them: $W^{\top} \delta$ through a dense layer",
        r"从输出层往回，每个误差项由其后一层的误差项按两者之间那一层的规则得到：经过全连接层是 $W^{\top} \delta$",
    ),
    "layers_backward_conv": (
        r"; through a convolution the full convolution of $\delta$ (spread out by the stride) with the kernel rotated by 180 degrees, $\operatorname{rot180}(W)$, its two channel axes swapped",
        r"；经过卷积层是 $\delta$（按步幅展开）与旋转 180 度的卷积核 $\operatorname{rot180}(W)$（交换其两个通道轴）的全卷积",
    ),
    "layers_backward_maxpool": (
        r"; max pooling routes $\delta$ to the maximum of each window ($\operatorname{route}_{\max}$; where entries tie, to the first of them)",
        r"；最大池化把 $\delta$ 传给每个窗口的最大值（$\operatorname{route}_{\max}$；有并列时传给第一个）",
    ),
    "layers_backward_avgpool": (r"; average pooling spreads it evenly over the window", r"；平均池化把它平均分给窗口"),
    "layers_backward_flatten": (
        r"; $\operatorname{vec}^{-1}$ reshapes it back into a map",
        r"；$\operatorname{vec}^{-1}$ 把它变回特征图",
    ),
    "layers_backward_batchnorm": (
        r"; batch norm subtracts its batch means, since $\mu_B$ and $\sigma_B^2$ depend on every example of the batch",
        r"；批归一化要减去 $\delta$ 的批内均值，因为 $\mu_B$ 与 $\sigma_B^2$ 依赖批中的每个样本",
    ),
    "layers_backward_layernorm": (
        r"; layer norm subtracts its means over the example's own entries, which its mean and variance are taken over",
        r"；层归一化要减去 $\delta$ 在该样本自身各分量上的均值，因为其均值与方差取自这些分量",
    ),
    "layers_backward_dropout": (r"; dropout multiplies it by the mask", r"；随机失活乘以掩码"),
    "layers_backward_residual": (
        r"; a residual sum passes $\delta$ unchanged to both of its inputs (add distributes), so the block's input adds the error term of the skip path and that of the body",
        r"；残差的加法把 $\delta$ 原样传给它的两个输入（加法分配梯度），因此残差块的输入把跳跃路径与主体的误差项相加",
    ),
    "layers_backward_end": (
        r"; an activation by $f'(z)$, $\odot$ the elementwise product. Each error term is one example's, $m$ times the derivative of $J$, which averages over the batch:",
        r"；激活函数乘以 $f'(z)$，$\odot$ 表示逐元素相乘。每个误差项按单个样本计算，是 $J$ 的导数的 $m$ 倍（$J$ 对批量取平均）：",
    ),
    "layers_gradient_base": (
        r"A parameter's gradient averages, over the batch, what each example sends it",
        r"参数的梯度是每个样本贡献的批内平均",
    ),
    "layers_gradient_conv": (
        r"a kernel's is the cross-correlation of the layer's input with $\delta$, a conv bias's the sum of $\delta$ over the positions $(u, v)$ of the map",
        r"卷积核的梯度是该层输入与 $\delta$ 的互相关，卷积偏置的梯度是 $\delta$ 在特征图各位置 $(u, v)$ 上的和",
    ),
    "layers_gradient_norm": (
        r"$\gamma$'s the sum of $\delta \odot \hat{x}$",
        r"$\gamma$ 的梯度是 $\delta \odot \hat{x}$ 的和",
    ),
    "layers_gradient_colon": (": ", "："),
    "layers_gradient_comma": (", ", "，"),
    "layers_gradient_stop": (".", "。"),
    "appendix_words": (
        "Each numbered equation and the functions and lines of the generated train.py that compute it: forward and backward compute what they return, step a whole training step from one forward pass.",
        "每个编号公式与生成的 train.py 中计算它的函数和行号：forward 与 backward 计算各自返回的量，step 由一次前向传播完成一整步训练。",
    ),
    "weights_words": ("Weights are labelled on the edges; square nodes are biases.", "边上标出权重；方形节点是偏置。"),
    "weights_words_no_bias": (
        "Weights are labelled on the edges; the network has no biases.",
        "边上标出权重；网络没有偏置。",
    ),
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
    "example_data_one": (
        "The example runs through the equations above: every unit's weighted input, output and error term side by side, then every parameter with its gradient and its value after one step of gradient descent with {rate}.",
        "把算例代入上面的公式：每个单元的加权输入、输出与误差项并排列出，然后是每个参数、它的梯度，以及学习率 {rate} 的一步梯度下降之后的值。",
    ),
    "example_data_first": (
        "The example data have {m} rows; the tables follow the first through the equations above (one example, so no mean over the batch): every unit's weighted input, output and error term side by side, then every parameter with its gradient and its value after one step of gradient descent on this example with {{rate}}.",
        "算例数据共 {m} 行；下表把第一行代入上面的公式（只有一个样本，所以不对批次求平均）：每个单元的加权输入、输出与误差项并排列出，然后是每个参数、它的梯度，以及在这个样本上以学习率 {{rate}} 做一步梯度下降之后的值。",
    ),
    "example_brief": (
        "This handout shows the representative units and parameters only (the first unit of each layer, the first entry of each matrix and vector); the full document lists every one.",
        "本讲义只列出有代表性的单元和参数（每层的第一个单元，每个矩阵和向量的第一个元素）；完整文档列出全部。",
    ),
    "col_layer_units": ("Weighted input, output and error term of each unit", "每个单元的加权输入、输出与误差项"),
    "col_parameter": ("Parameter", "参数"),
    "inputs_line": ("Input: {values}.", "输入：{values}。"),
    "targets": ("Target: {values}.", "目标值：{values}。"),
    "input_gradients": ("Gradients with respect to the inputs: {values}.", "对输入的梯度：{values}。"),
    "batch_algorithm": ("Batch gradient descent", "批量梯度下降"),
    "batch_algorithm_words": (
        "UFLDL's batch gradient descent, one iteration over the $m$ examples $(x^{{(i)}}, y^{{(i)}})$, for every layer $l$; $J(W,b;x,y)$ is the cost of one example and $J(W,b)$ the overall cost with weight decay:",
        "UFLDL 的批量梯度下降，对 $m$ 个样本 $(x^{{(i)}}, y^{{(i)}})$ 做一次迭代，对每一层 $l$；$J(W,b;x,y)$ 是单个样本的代价，$J(W,b)$ 是带权重衰减的整体代价：",
    ),
    "batch_step_zero": (
        r"Set $\Delta W^{{(l)}} := 0$ (a matrix of zeros) and $\Delta b^{{(l)}} := 0$ (a vector of zeros).",
        r"令 $\Delta W^{{(l)}} := 0$（零矩阵），$\Delta b^{{(l)}} := 0$（零向量）。",
    ),
    "batch_step_each": (
        r"For $i = 1$ to $m$: compute $\nabla_{{W^{{(l)}}}} J(W,b;x^{{(i)}},y^{{(i)}}) = \delta^{{(l+1)(i)}} (a^{{(l)(i)}})^T$ and $\nabla_{{b^{{(l)}}}} J(W,b;x^{{(i)}},y^{{(i)}}) = \delta^{{(l+1)(i)}}$ by backpropagation, then set $\Delta W^{{(l)}} := \Delta W^{{(l)}} + \nabla_{{W^{{(l)}}}} J(W,b;x^{{(i)}},y^{{(i)}})$ and $\Delta b^{{(l)}} := \Delta b^{{(l)}} + \nabla_{{b^{{(l)}}}} J(W,b;x^{{(i)}},y^{{(i)}})$. In train.py this loop is one matrix product per layer over the whole batch, whose sum over the examples is the accumulation.",
        r"对 $i = 1$ 到 $m$：用反向传播计算 $\nabla_{{W^{{(l)}}}} J(W,b;x^{{(i)}},y^{{(i)}}) = \delta^{{(l+1)(i)}} (a^{{(l)(i)}})^T$ 与 $\nabla_{{b^{{(l)}}}} J(W,b;x^{{(i)}},y^{{(i)}}) = \delta^{{(l+1)(i)}}$，再令 $\Delta W^{{(l)}} := \Delta W^{{(l)}} + \nabla_{{W^{{(l)}}}} J(W,b;x^{{(i)}},y^{{(i)}})$，$\Delta b^{{(l)}} := \Delta b^{{(l)}} + \nabla_{{b^{{(l)}}}} J(W,b;x^{{(i)}},y^{{(i)}})$。train.py 中这个循环是每层对整个批次的一次矩阵乘法，乘积中对样本的求和就是累加。",
    ),
    "batch_step_update": (
        r"Update the parameters: $W^{{(l)}} := W^{{(l)}} - \alpha \left[\frac{{1}}{{m}} \Delta W^{{(l)}} + \lambda W^{{(l)}}\right]$ and $b^{{(l)}} := b^{{(l)}} - \alpha \left[\frac{{1}}{{m}} \Delta b^{{(l)}}\right]$, here with $\alpha = {rate}$ and $\lambda = {decay}$.",
        r"更新参数：$W^{{(l)}} := W^{{(l)}} - \alpha \left[\frac{{1}}{{m}} \Delta W^{{(l)}} + \lambda W^{{(l)}}\right]$，$b^{{(l)}} := b^{{(l)}} - \alpha \left[\frac{{1}}{{m}} \Delta b^{{(l)}}\right]$，这里 $\alpha = {rate}$，$\lambda = {decay}$。",
    ),
    "batch_repeat": (
        "Repeating these steps decreases $J(W,b)$; train.py's step function is one such iteration.",
        "重复这些步骤即可减小 $J(W,b)$；train.py 的 step 函数就是一次这样的迭代。",
    ),
    "batch_in_code": ("In train.py:", "train.py 中："),
    "clause_separator": ("; ", "；"),
    "full_stop": (".", "。"),
    "batch_init": (
        "Initialise every parameter to a small random value near zero, not all to the same value: if all the weights into a layer start equal, every unit of that layer computes the same output and receives the same error term, so they stay equal after every update. Random initialisation breaks this symmetry; train.py draws them from a normal distribution with standard deviation {scale} (seed {seed}).",
        "把每个参数初始化为接近 0 的小随机数，而不是全部相同：如果进入某层的权重初值都相等，该层每个单元的输出相同、误差项相同，每次更新之后仍然相等。随机初始化打破了这种对称性；train.py 从标准差为 {scale} 的正态分布中抽取初值（随机种子 {seed}）。",
    ),
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
    # d2l notation (Dive into Deep Learning, section 5.3; its Chinese edition's terms)
    "d2l_notation": (
        r"The names are d2l's (section 5.3): the input $x \in \mathbb{R}^d$, the hidden layer's weighted input $z = W^{(1)} x$ and output $h = \phi(z)$, the output layer's $o = W^{(2)} h$ and $\hat{y}$ (the loss $\ell(o, y)$ reads $o$ through it), the label $y$; {objective}; there are no biases. d2l names no error term: the backward pass carries $\partial J / \partial o$ and $\partial J / \partial z$, written as they are.",
        r"记号沿用 d2l（《动手学深度学习》4.7 节）：输入 $x \in \mathbb{R}^d$，隐藏层的加权输入 $z = W^{(1)} x$ 与输出 $h = \phi(z)$，输出层的 $o = W^{(2)} h$ 与 $\hat{y}$（损失 $\ell(o, y)$ 经由它读取 $o$），标签 $y$；{objective}；没有偏置。d2l 不单独命名误差项：反向传播直接计算 $\partial J / \partial o$ 和 $\partial J / \partial z$。",
    ),
    "d2l_objective": (
        r"the objective is $J = L + s$, the loss $L$ plus the regularisation term $s$",
        r"目标函数 $J = L + s$ 是损失项 $L$ 加正则化项 $s$",
    ),
    "d2l_objective_no_decay": (
        r"the objective $J$ is the loss alone (no weight decay, so no regularisation term $s$: d2l's computational graph and its backward pass, which have one, are left out)",
        r"目标函数 $J$ 就是损失（没有权重衰减，因而没有正则化项 $s$；d2l 的计算图和反向传播都含有它，这里从略）",
    ),
    "general_output_d2l": (
        r"\[ \frac{\partial J}{\partial o_i} = \frac{\partial J}{\partial \hat{y}_i} f'\left(o_i\right) \]",
        r"\[ \frac{\partial J}{\partial o_i} = \frac{\partial J}{\partial \hat{y}_i} f'\left(o_i\right) \]",
    ),
    "general_hidden_d2l": (
        r"the hidden layer's output $h$ feeds only $o = W^{(2)} h$, and $h = \phi(z)$ elementwise ($\odot$ is the elementwise product): \[ \frac{\partial J}{\partial h} = \left(W^{(2)}\right)^T \frac{\partial J}{\partial o} \] \[ \frac{\partial J}{\partial z} = \frac{\partial J}{\partial h} \odot \phi'\left(z\right) \]",
        r"隐藏层的输出 $h$ 只送入 $o = W^{(2)} h$，且 $h = \phi(z)$ 逐元素计算（$\odot$ 表示逐元素相乘）： \[ \frac{\partial J}{\partial h} = \left(W^{(2)}\right)^T \frac{\partial J}{\partial o} \] \[ \frac{\partial J}{\partial z} = \frac{\partial J}{\partial h} \odot \phi'\left(z\right) \]",
    ),
    "d2l_heading": (
        "Forward propagation, backward propagation and computational graphs",
        "前向传播、反向传播和计算图",
    ),
    "d2l_graph_words": (
        r"d2l draws the forward pass as a computational graph: boxes are variables and circles operators; the input $x$ is at the lower left and the objective $J$ at the upper right. Here $\phi$ is the hidden layer's activation ({activation}) and $\ell$ the loss ({loss}).",
        r"d2l 把前向传播画成计算图：方框表示变量，圆圈表示运算符；输入 $x$ 在左下角，目标函数 $J$ 在右上角。这里 $\phi$ 是隐藏层的激活函数（{activation}），$\ell$ 是损失函数（{loss}）。",
    ),
    "d2l_figure": ("Computational graph of forward propagation", "前向传播的计算图"),
    "d2l_prod_words": (
        r"Backward propagation walks the graph from $J$ down to the parameters by the chain rule. d2l writes each product of the chain rule as $\operatorname{prod}(A, B)$: multiply $A$ and $B$ after whatever transposing and swapping of the two makes their shapes fit, so that the result has the shape of the quantity differentiated with respect to (for $\partial J / \partial W^{(2)}$ a matrix like $W^{(2)}$, for $\partial J / \partial h$ a vector like $h$). Where two paths reach a quantity, as the loss and the regularisation term both reach $W^{(2)}$, their products are added.",
        r"反向传播按链式法则从 $J$ 沿计算图向下一直算到参数。d2l 用 $\operatorname{prod}(A, B)$ 表示链式法则中的每个乘积，意思是先对 $A$ 和 $B$ 做必要的转置和位置交换，使形状匹配后再相乘，结果的形状与求导对象相同（$\partial J / \partial W^{(2)}$ 是与 $W^{(2)}$ 同形的矩阵，$\partial J / \partial h$ 是与 $h$ 同形的向量）。如果有两条路径到达同一个量，例如损失项和正则化项都依赖 $W^{(2)}$，就把两条路径上的乘积相加。",
    ),
    "d2l_backward_words": (
        "The backward pass in d2l's order; the results are the matrix-form equations above, whose parameter gradients average over a batch of $m$ examples (d2l writes one example, $m = 1$):",
        "按 d2l 的顺序写出反向传播；结果就是上文的矩阵形式公式，其中参数的梯度对一批 $m$ 个样本取平均（d2l 写的是单个样本，即 $m = 1$）：",
    ),
    "col_step": ("Quantity", "量"),
    "col_prod": ("d2l's chain rule", "d2l 的链式法则"),
    "col_network": ("In this network", "本网络中"),
    "memory_heading": ("Memory: training and prediction", "训练与预测的内存占用"),
    "memory_words": (
        "The backward pass reuses values the forward pass computed, so training has to keep them until the backward pass has read them. The matrix-form error terms and gradients above read these (floats per example for data, floats once for a parameter):",
        "反向传播要重复利用前向传播计算出的值，因此训练时必须把它们保存到反向传播读取之后。上文矩阵形式的误差项和梯度读取下列各值（数据按每个样本的浮点数个数计，参数只存一份）：",
    ),
    "col_role": ("Kind", "类别"),
    "col_shape": ("Shape", "形状"),
    "col_floats": ("Floats", "浮点数个数"),
    "col_read_by": ("Read by", "被读取于"),
    "role_input": ("input", "输入"),
    "role_label": ("label", "标签"),
    "role_intermediate": ("intermediate variable", "中间变量"),
    "role_parameter": ("parameter", "参数"),
    "floats_per_example": ("{n} per example", "每个样本 {n} 个"),
    "floats_once": ("{n} once", "共 {n} 个"),
    "memory_totals": (
        "Per example, the backward pass needs {per_example} floats kept, {intermediate_count} of them the forward pass's intermediate variables ({intermediates}); for a batch of {batch} examples, as in the worked example, that is {batch_floats} floats: {b32} bytes in float32 and {b64} bytes in float64. The parameters add {params} floats ({p32} and {p64} bytes) however large the batch.",
        "每个样本需要为反向传播保存 {per_example} 个浮点数，其中 {intermediate_count} 个是前向传播的中间变量（{intermediates}）；像数值算例那样一批 {batch} 个样本，共 {batch_floats} 个浮点数：float32 下 {b32} 字节，float64 下 {b64} 字节。参数另占 {params} 个浮点数（{p32} 与 {p64} 字节），与批量大小无关。",
    ),
    "memory_prediction": (
        "Prediction needs no backward pass, so it keeps nothing for later: each value can be freed once the last step that reads it is done, and the forward pass holds at most {peak} floats per example at once ({alive}), {q32} bytes for the batch in float32 ({q64} in float64). Training keeps all {per_example} per example until the backward pass reaches them, and that grows with the batch size and with every layer added: this is why training needs more memory (on a GPU, more video memory) than prediction.",
        "预测不需要反向传播，因此不必保存任何值：每个值在最后一个读取它的步骤完成后即可释放，前向传播同时最多只保留每个样本 {peak} 个浮点数（{alive}），这一批在 float32 下为 {q32} 字节（float64 下 {q64} 字节）。训练则要把每个样本的 {per_example} 个浮点数一直保留到反向传播用到它们，这个数随批量大小和层数增长：这就是训练比预测需要更多内存（在 GPU 上是显存）的原因。",
    ),
    # the web pages (symbackprop serve): plain text, escaped by the HTML templates; $...$ as maths
    "web_index": ("Networks", "网络"),
    "web_index_words": (
        "Check a derivation as you type it, or read the derivation of a network.",
        "边写边检查推导，或阅读网络的推导文档。",
    ),
    "web_check": ("Check a derivation", "检查推导"),
    "web_derivation": ("Derivation", "推导文档"),
    "web_report": ("Grading report", "评分报告"),
    "web_language": ("Language", "语言"),
    "web_notation": ("Notation", "记号"),
    "web_notation_node": ("node", "节点编号"),
    "web_notation_layer": ("layer (UFLDL)", "分层（UFLDL）"),
    "web_notation_d2l": ("d2l", "d2l"),
    "web_check_words": (
        "Write one equation a line, in LaTeX or plain text; a line that starts with = (or &=) continues the equation before it. The verdict appears beside each line when you pause.",
        "每行写一个等式，LaTeX 或纯文本均可；以 =（或 &=）开头的行接着上一行的等式。停止输入片刻后，每行旁边会显示判定结果。",
    ),
    "web_answer": ("Your derivation", "你的推导"),
    "web_preview": ("Preview and verdicts", "预览与判定"),
    "web_quantities": ("What the names mean here", "本网络中各记号的含义"),
    "web_col_symbol": ("Name", "记号"),
    "web_col_meaning": ("Defined as", "定义"),
    "web_question": ("Question: derive", "题目：推导"),
    "web_question_words": (
        "An equation for another quantity is marked wrong, even when it is right for that quantity.",
        "写成其他量的等式会判为错误，即使它对那个量是对的。",
    ),
    "web_checking": ("checking…", "检查中…"),
    "web_line": ("line {n}", "第 {n} 行"),
    "web_verdict_correct": ("correct", "正确"),
    "web_verdict_incorrect": ("incorrect", "错误"),
    "web_verdict_invalid": ("cannot be read", "无法读取"),
    "web_verdict_undecided": ("undecided", "无法判定"),
    "web_follows": (
        "follows from line {line}, which is wrong",
        "由第 {line} 行推出，而那一行是错的",
    ),
    "web_counterexample": ("A point where it fails", "一个反例"),
    "web_col_quantity": ("Quantity", "量"),
    "web_your_value": ("your answer", "你的答案"),
    "web_correct_value": ("correct value", "正确值"),
    "web_marked": ("The reader stopped here:", "读到此处无法继续："),
    "web_more": ("{n} more", "其余 {n} 个"),
    "web_instances": ("Each instance:", "每个实例："),
    "web_as_answer": ("As the answer to the question:", "作为本题的答案："),
    "web_busy": (
        "The server is busy; your answer will be checked again in a moment.",
        "服务器繁忙，稍后会再次检查你的答案。",
    ),
    "web_failed": ("The answer could not be checked:", "无法检查答案："),
    "web_not_stored": ("Nothing you type is stored.", "你输入的内容不会被保存。"),
    "web_logged": ("This server keeps a log of the answers checked.", "本服务器会记录所检查的答案。"),
    "web_diagnosis_sign": ("the sign is wrong", "符号错误"),
    "web_diagnosis_factor": ("off by a constant factor", "相差一个常数因子"),
    "web_diagnosis_missing_activation_derivative": ("the activation's derivative is missing", "缺少激活函数的导数"),
    "web_diagnosis_extra_activation_derivative": ("an extra activation derivative", "多乘了激活函数的导数"),
    "web_diagnosis_activation_instead_of_derivative": (
        "the activation where its derivative belongs",
        "该用激活函数的导数处用了激活函数本身",
    ),
    "web_diagnosis_transposed_index": ("indices the wrong way round", "下标顺序颠倒"),
    "web_diagnosis_missing_term": ("a term is missing", "缺少一项"),
    "web_diagnosis_extra_term": ("an extra term", "多了一项"),
    "web_diagnosis_missing_regularization": ("the weight decay is missing", "缺少权重衰减项"),
    "web_diagnosis_wrong_learning_rate_sign": (
        "the update goes uphill (the learning rate's sign)",
        "更新方向错误（学习率的符号）",
    ),
    "web_diagnosis_wrong_target": ("an equation for another quantity", "这是另一个量的等式"),
    "web_diagnosis_other": ("the value is wrong", "数值不对"),
    "web_downloads": ("Downloads", "下载"),
    "web_pdf": ("PDF", "PDF"),
    "web_markdown": ("Markdown", "Markdown"),
    "web_notebook": ("Jupyter notebook", "Jupyter 笔记本"),
    "web_train": ("train.py", "train.py"),
    "web_pdf_missing": (
        "PDF: this server has no TeX Live to compile it",
        "PDF：本服务器没有安装 TeX Live，无法编译",
    ),
    "web_figures_missing": (
        "The pictures need TeX Live and pdftocairo, which this server does not have.",
        "图片需要 TeX Live 和 pdftocairo，本服务器没有安装。",
    ),
    "web_per_question": ("Per question", "各题统计"),
    "web_per_student": ("Per student", "各学生的答案"),
    "web_col_question": ("Question", "题目"),
    "web_col_target": ("Target", "目标"),
    "web_col_answers": ("Answers", "答案数"),
    "web_col_share": ("Correct", "正确率"),
    "web_col_diagnoses": ("Diagnoses of the wrong answers", "错误答案的诊断"),
    "web_col_student": ("Student", "学生"),
    "web_col_answer": ("Answer", "答案"),
    "web_col_verdict": ("Verdict", "结论"),
    "web_col_message": ("Why", "说明"),
    "web_filter": ("Filter", "筛选"),
    "web_filter_words": (
        "Shows the rows that contain this text; click a column's header to sort by it.",
        "只显示包含此文字的行；点击列标题按该列排序。",
    ),
    "web_all_verdicts": ("every verdict", "全部结论"),
    "web_summary": (
        "{total} answers: {correct} correct, {incorrect} incorrect, {invalid} unreadable, {undecided} undecided.",
        "共 {total} 个答案：{correct} 个正确，{incorrect} 个错误，{invalid} 个无法读取，{undecided} 个无法判定。",
    ),
    "web_no_report": (
        "No grading report here: start the server with --report DIR, where DIR holds the index.html that grade wrote.",
        "这里没有评分报告：请用 --report DIR 启动服务器，DIR 中有 grade 写出的 index.html。",
    ),
    "web_not_found": ("Not found", "未找到"),
    # a network of layers: the objective's sentence, the worked example and its pictures
    "layers_loss_words": (
        r"One example's loss is ${loss}$, summed over the output units $k$.",
        r"单个样本的损失为 ${loss}$，对输出单元 $k$ 求和。",
    ),
    "layers_example_data": (
        r"The example data have {m} examples, and one step of train.py uses them all: the gradient of a parameter is the mean over them.{coupled} The values below are the first example's, from the parameters train.py starts from (drawn with seed {seed}){masks}: each layer's values beside their error terms, then each parameter with its gradient and its value after one step of gradient descent with {rate}.",
        r"算例数据共 {m} 个样本，train.py 的一步训练用到全部样本：参数的梯度是它们的平均。{coupled}下面列出第一个样本的数值，参数取 train.py 的初始值（随机种子 {seed}）{masks}：每层的数值与其误差项并排，然后是每个参数、它的梯度，以及学习率 {rate} 的一步梯度下降之后的值。",
    ),
    "layers_example_data_one": (
        r"The example runs through the equations above from the parameters train.py starts from (drawn with seed {seed}){masks}: each layer's values beside their error terms, then each parameter with its gradient and its value after one step of gradient descent with {rate}.",
        r"把算例代入上面的公式，参数取 train.py 的初始值（随机种子 {seed}）{masks}：每层的数值与其误差项并排，然后是每个参数、它的梯度，以及学习率 {rate} 的一步梯度下降之后的值。",
    ),
    "layers_example_coupled": (
        " Batch norm's mean and variance are those of the whole batch, so the first example's values depend on the others too.",
        "批归一化的均值与方差取自整个批量，所以第一个样本的数值也依赖其他样本。",
    ),
    "layers_example_masks": (
        ", and the dropout masks the first ones it draws",
        "，随机失活的掩码取 train.py 最先抽取的那一个",
    ),
    "layers_example_maps": (
        r"A feature map is printed as one matrix per channel $c$, side by side; a kernel as one matrix per filter $f$ and input channel $c$.",
        r"特征图按通道 $c$ 逐个写成矩阵，并排列出；卷积核按滤波器 $f$ 与输入通道 $c$ 逐个写成矩阵。",
    ),
    "layers_example_input": ("The input and the target:", "输入与目标值："),
    "layers_example_input_masks": (
        "The inputs (the example and the dropout masks) and the target:",
        "输入（样本与随机失活的掩码）与目标值：",
    ),
    "layers_example_layer": ("Layer {number}, {kind}:", "第 {number} 层，{kind}："),
    "layers_example_parameters": (
        "The parameters, their gradients and their values after one step:",
        "参数、梯度与一步更新后的值：",
    ),
    "layers_example_objective": (
        r"The objective at these parameters is $J = {value}$, the mean of the examples' losses over the batch.{decay} The first example's own loss is ${loss}$.",
        r"在这些参数下损失函数为 $J = {value}$，即各样本的损失对批量的平均。{decay}第一个样本自身的损失为 ${loss}$。",
    ),
    "layers_example_decay": (" The weight-decay term is added to it.", "其中还加上了权重衰减项。"),
    "layers_example_conv": (
        r"The convolution of layer {layer} on the first example, for the input's first channel and the first filter, $c = 0$ and $f = 0$ (its kernel $W^{{({layer})}}_{{0,0}}$): the entries of the highlighted window of the input times those of the kernel, summed, give the highlighted entry of the output $z^{{({layer})}}$.{bias}{channels} The window moves {stride} to the next entry.",
        r"第 {layer} 层的卷积作用在第一个样本上，取输入的第一个通道与第一个滤波器，即 $c = 0$、$f = 0$（卷积核 $W^{{({layer})}}_{{0,0}}$）：输入中高亮窗口的元素与卷积核的元素逐一相乘再求和，得到输出 $z^{{({layer})}}$ 中高亮的那一项。{bias}{channels}窗口每次移动 {stride} 得到下一项。",
    ),
    "layers_example_conv_channels": (
        " The input's other channels add their own such sums.",
        "输入其余通道的同样的和也加在一起。",
    ),
    "layers_example_conv_bias": (
        r" The bias $b^{{({layer})}}_0 = {value}$ is added to it.",
        r"再加上偏置 $b^{{({layer})}}_0 = {value}$。",
    ),
    "layers_example_stride_one": ("one place", "一格"),
    "layers_example_stride": ("{stride} places", "{stride} 格"),
    "layers_example_too_large": (
        "This network's tensors are too large to print here; train.py's forward and backward return every value.",
        "该网络的张量太大，此处不列出；train.py 的 forward 与 backward 返回每个值。",
    ),
    "layers_stack_words": (
        "The layers in order; each arrow carries one example's tensor, labelled with its shape.",
        "各层依次排列；每个箭头传递一个样本的张量，旁边标出它的形状。",
    ),
    "figure_conv": ("The convolution of the worked example", "算例中的卷积"),
    "conv_input": ("input", "输入"),
    "conv_kernel": ("kernel", "卷积核"),
    "conv_padded": (" (zero padding {padding}, shaded)", "（零填充 {padding}，灰色）"),
    "conv_output": ("output", "输出"),
    "layer_input": ("input", "输入"),
    "layer_dense": ("dense", "全连接"),
    "layer_conv2d": ("convolution", "卷积"),
    "layer_maxpool2d": ("max pooling", "最大池化"),
    "layer_avgpool2d": ("average pooling", "平均池化"),
    "layer_flatten": ("flatten", "展平"),
    "layer_batchnorm": ("batch norm", "批归一化"),
    "layer_layernorm": ("layer norm", "层归一化"),
    "layer_dropout": ("dropout", "随机失活"),
    "layer_residual": ("residual connection", "残差连接"),
    "layer_rnn": ("recurrent", "循环层"),
    "layer_lstm": ("LSTM", "LSTM"),
    "layer_gru": ("GRU", "GRU"),
    "layer_attention": ("self-attention", "自注意力"),
    "layer_mean_over_time": ("mean over time", "对时间取平均"),
    "layer_last_step": ("last step", "最后一步"),
    "layer_causal": ("causal", "因果掩码"),
    "layer_units": ("{units} units", "{units} 个单元"),
    "layer_kernels": ("{channels} kernels", "{channels} 个卷积核"),
    "layer_comma": (", ", "，"),
    # names of things
    "input": ("input", "输入层"),
    "hidden": ("hidden", "隐藏层"),
    "output": ("output", "输出层"),
}


# --- a sequence model's own words, keyed by op (seq_<op>_...): only the layer kinds a document
# has are described (backends.layers_document.sequence_words picks them); "{name}" fields are filled by name (str.replace, so the maths keeps its braces)
_SEQUENCE_MESSAGES = {
    "seq_notation_base": (
        r"Layer $l$ is the $l$-th layer of the list and $a^{(0)} = x$ the input; a dense layer's weighted input is $z^{(l)} = W^{(l)} a^{(l-1)} + b^{(l)}$ and $a^{(l)} = f(z^{(l)})$ its output. Each symbol is one example's tensor: a vector, or a sequence of $T$ steps, a matrix whose row $t$ (from 1) is step $t$, $x_t$ the $t$-th row of the input. The error term is $\delta^{(l)} = \partial J / \partial z^{(l)}$ per example, and $y$ is the target.",
        r"第 $l$ 层是列表中的第 $l$ 层，$a^{(0)} = x$ 是输入；全连接层的加权输入为 $z^{(l)} = W^{(l)} a^{(l-1)} + b^{(l)}$，输出为 $a^{(l)} = f(z^{(l)})$。每个符号是一个样本的张量：向量，或 $T$ 个时间步的序列，即第 $t$ 行（从 1 起）为第 $t$ 步的矩阵，$x_t$ 是输入的第 $t$ 行。误差项 $\delta^{(l)} = \partial J / \partial z^{(l)}$ 按样本计算，$y$ 是目标值。",
    ),
    "seq_notation_rnn": (
        r"The recurrent layer is unrolled through time (the picture below, right): step $t$ has its own nodes $z^{(l)}_{t} = W^{(l)}_{xh} x_t + W^{(l)}_{hh} h^{(l)}_{t-1} + b^{(l)}_{h}$ and $h^{(l)}_{t} = f(z^{(l)}_{t})$, and the steps share the weights $W^{(l)}_{xh}$ (input to hidden) and $W^{(l)}_{hh}$ (hidden to hidden), with $h^{(l)}_{0} = 0$; $\delta^{(l)}_{t} = \partial J / \partial z^{(l)}_{t}$.",
        r"循环层按时间展开（见下图右）：第 $t$ 步有自己的节点 $z^{(l)}_{t} = W^{(l)}_{xh} x_t + W^{(l)}_{hh} h^{(l)}_{t-1} + b^{(l)}_{h}$ 与 $h^{(l)}_{t} = f(z^{(l)}_{t})$，各时间步共享权重 $W^{(l)}_{xh}$（输入到隐藏）与 $W^{(l)}_{hh}$（隐藏到隐藏），$h^{(l)}_{0} = 0$；$\delta^{(l)}_{t} = \partial J / \partial z^{(l)}_{t}$。",
    ),
    "seq_notation_lstm": (
        r"The LSTM layer is unrolled through time and stacks its four gates $i, f, g, o$ (PyTorch's order) in $z^{(l)}_{t} = W^{(l)}_{ih} x_t + W^{(l)}_{hh} h^{(l)}_{t-1} + b^{(l)}$, $s^{(l)}_{g,t}$ being gate $g$'s block: $i_t, f_t, o_t$ are $\sigma$ of theirs, $g_t$ is $\tanh$ of its own. The cell state is $c^{(l)}_{t} = f_t \odot c_{t-1} + i_t \odot g_t$ and $h^{(l)}_{t} = o_t \odot \tanh(c_t)$, with $h_0 = c_0 = 0$ (so step 1 has no forget gate). $\delta^{(l)}_{t}$ is the stacked error term, $\delta^{(l)}_{g,t}$ gate $g$'s, $\delta^{(l)}_{h,t} = \partial J / \partial h_t$ and $\delta^{(l)}_{c,t} = \partial J / \partial c_t$. PyTorch's two biases $b_{ih} + b_{hh}$ are merged into one $b$.",
        r"LSTM 层按时间展开，把四个门 $i, f, g, o$（PyTorch 的顺序）叠放在 $z^{(l)}_{t} = W^{(l)}_{ih} x_t + W^{(l)}_{hh} h^{(l)}_{t-1} + b^{(l)}$ 中，$s^{(l)}_{g,t}$ 是门 $g$ 的那一块：$i_t, f_t, o_t$ 是各自一块的 $\sigma$，$g_t$ 是其一块的 $\tanh$。细胞状态为 $c^{(l)}_{t} = f_t \odot c_{t-1} + i_t \odot g_t$，$h^{(l)}_{t} = o_t \odot \tanh(c_t)$，$h_0 = c_0 = 0$（所以第 1 步没有遗忘门）。$\delta^{(l)}_{t}$ 是叠放的误差项，$\delta^{(l)}_{g,t}$ 是门 $g$ 的误差项，$\delta^{(l)}_{h,t} = \partial J / \partial h_t$，$\delta^{(l)}_{c,t} = \partial J / \partial c_t$。PyTorch 的两个偏置 $b_{ih} + b_{hh}$ 在此合并为一个 $b$。",
    ),
    "seq_notation_gru": (
        r"The GRU layer is unrolled through time and stacks its three gates $r, z, n$ (PyTorch's order) in $u^{(l)}_{t} = W^{(l)}_{ih} x_t + b^{(l)}$ and $v^{(l)}_{t} = W^{(l)}_{hh} h^{(l)}_{t-1}$, $u_{g,t}$ and $v_{g,t}$ being gate $g$'s blocks: $r_t = \sigma(u_{r,t} + v_{r,t})$, $z_t = \sigma(u_{z,t} + v_{z,t})$, $n_t = \tanh(u_{n,t} + r_t \odot v_{n,t})$ and $h^{(l)}_{t} = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$, with $h_0 = 0$ (so step 1 has no $v_1$ and no reset gate). $\delta^{(l)}_{h,t} = \partial J / \partial h_t$; $\delta^{(l)}_{u,t}$, $\delta^{(l)}_{v,t}$ and $\delta^{(l)}_{g,t}$ are the error terms of $u_t$, $v_t$ and of gate $g$'s pre-activation. PyTorch's two biases are merged into one $b$.",
        r"GRU 层按时间展开，把三个门 $r, z, n$（PyTorch 的顺序）叠放在 $u^{(l)}_{t} = W^{(l)}_{ih} x_t + b^{(l)}$ 与 $v^{(l)}_{t} = W^{(l)}_{hh} h^{(l)}_{t-1}$ 中，$u_{g,t}$ 与 $v_{g,t}$ 是门 $g$ 的那一块：$r_t = \sigma(u_{r,t} + v_{r,t})$，$z_t = \sigma(u_{z,t} + v_{z,t})$，$n_t = \tanh(u_{n,t} + r_t \odot v_{n,t})$，$h^{(l)}_{t} = (1 - z_t) \odot n_t + z_t \odot h_{t-1}$，$h_0 = 0$（所以第 1 步没有 $v_1$，也没有重置门）。$\delta^{(l)}_{h,t} = \partial J / \partial h_t$；$\delta^{(l)}_{u,t}$、$\delta^{(l)}_{v,t}$ 与 $\delta^{(l)}_{g,t}$ 分别是 $u_t$、$v_t$ 与门 $g$ 的加权输入的误差项。PyTorch 的两个偏置在此合并为一个 $b$。",
    ),
    "seq_notation_attention": (
        r"The attention layer takes its input sequence $X$ ($T \times d$) and computes $Q = X W_q$, $K = X W_k$, $V = X W_v$, the scores $S = Q K^{\top} / \sqrt{d_k}$, the weights $A = \operatorname{softmax}(S)$ (softmax of each row{causal}) and the output $O = A V$; $s_t$ and $a_t$ are row $t$ of $S$ and $A$.",
        r"注意力层以输入序列 $X$（$T \times d$）计算 $Q = X W_q$、$K = X W_k$、$V = X W_v$，得分 $S = Q K^{\top} / \sqrt{d_k}$，权重 $A = \operatorname{softmax}(S)$（逐行 softmax{causal}）与输出 $O = A V$；$s_t$ 与 $a_t$ 是 $S$ 与 $A$ 的第 $t$ 行。",
    ),
    "seq_notation_causal": ("; with its causal mask, 0 above the diagonal", "；有因果掩码，对角线以上为 0"),
    "seq_notation_mean_over_time": (
        r"The mean over time averages the steps, $a = \frac{1}{T} \sum_t O_t$ (row $t$ of its input).",
        r"对时间取平均把各时间步平均，$a = \frac{1}{T} \sum_t O_t$（其输入的第 $t$ 行）。",
    ),
    "seq_notation_last_step": (
        r"The last time step keeps the last row of its input sequence.",
        r"最后一个时间步取其输入序列的最后一行。",
    ),
    "seq_backward_base": (
        r"From the output back, each error term follows from the one after it by the rule of the layer between them: $W^{\top} \delta$ through a dense layer, $f'(z)$ through an activation, $\odot$ the elementwise product.",
        r"从输出层往回，每个误差项由其后一层的误差项按两者之间那一层的规则得到：经过全连接层是 $W^{\top} \delta$，经过激活函数乘以 $f'(z)$，$\odot$ 表示逐元素相乘。",
    ),
    "seq_backward_rnn": (
        r"Through time, $h_{t}$ feeds both the layers above (the direct path) and $z_{t+1}$ (the path through $h_{t+1}$), so its error term is the sum of the two, the total derivative over time (section ``{heading}'').",
        r"沿时间方向，$h_{t}$ 既进入上面的层（直接路径），也进入 $z_{t+1}$（经过 $h_{t+1}$ 的路径），所以它的误差项是两者之和，即对时间的全导数（见“{heading}”一节）。",
    ),
    "seq_backward_lstm": (
        r"In the LSTM, $h_t$ and the cell state $c_t$ each carry the gradient back to the step before; $c_t$ passes it on through the forget gate alone (section ``{heading}'').",
        r"在 LSTM 中，$h_t$ 与细胞状态 $c_t$ 都把梯度传回前一步；$c_t$ 只经过遗忘门把它传下去（见“{heading}”一节）。",
    ),
    "seq_backward_gru": (
        r"In the GRU, $h_{t-1}$ gets the gradient straight through the update gate, $\delta_{h,t} \odot z_t$, besides the path through $W_{hh}$ (section ``{heading}'').",
        r"在 GRU 中，$h_{t-1}$ 除经过 $W_{hh}$ 的路径外，还经过更新门直接得到梯度 $\delta_{h,t} \odot z_t$（见“{heading}”一节）。",
    ),
    "seq_backward_attention": (
        r"Through attention, each row of $A = \operatorname{softmax}(S)$ has the Jacobian $\operatorname{diag}(a) - a a^{\top}$, off-diagonal terms included, and $1/\sqrt{d_k}$ scales the error terms of $Q$ and $K$ (section ``{heading}'').",
        r"经过注意力时，$A = \operatorname{softmax}(S)$ 的每一行的雅可比矩阵是 $\operatorname{diag}(a) - a a^{\top}$，包括非对角项，$1/\sqrt{d_k}$ 缩放 $Q$ 与 $K$ 的误差项（见“{heading}”一节）。",
    ),
    "seq_backward_end": (
        r"Each error term is one example's, $m$ times the derivative of $J$:",
        r"每个误差项按单个样本计算，是 $J$ 的导数的 $m$ 倍：",
    ),
    "seq_gradient_base": (
        r"A parameter's gradient averages, over the batch, what each example sends it.",
        r"参数的梯度是每个样本贡献的批内平均。",
    ),
    "seq_gradient_rnn": (
        r"A weight the steps share collects one term from each step, summed over time: $\partial J / \partial W_{hh} = \frac{1}{m} \sum_{i} \sum_{t} \delta_{t} h_{t-1}^{\top}$, and $W_{xh}$, $b_h$ likewise.",
        r"各时间步共享的权重从每个时间步得到一项，对时间求和：$\partial J / \partial W_{hh} = \frac{1}{m} \sum_{i} \sum_{t} \delta_{t} h_{t-1}^{\top}$，$W_{xh}$、$b_h$ 同理。",
    ),
    "seq_gradient_lstm": (
        r"The LSTM's weights are shared by the steps: each collects one term per step, $\partial J / \partial W_{hh} = \frac{1}{m} \sum_{i} \sum_{t} \delta_{t} h_{t-1}^{\top}$ with the stacked error term of the four gates, $W_{ih}$ and $b$ likewise.",
        r"LSTM 的权重由各时间步共享：每个时间步贡献一项，\allowbreak $\partial J / \partial W_{hh} = \frac{1}{m} \sum_{i} \sum_{t} \delta_{t} h_{t-1}^{\top}$，其中 $\delta_{t}$ 是四个门叠放的误差项，$W_{ih}$ 与 $b$ 同理。",
    ),
    "seq_gradient_gru": (
        r"The GRU's weights are shared by the steps: $\partial J / \partial W_{hh} = \frac{1}{m} \sum_{i} \sum_{t} \delta_{v,t} h_{t-1}^{\top}$ and $\partial J / \partial W_{ih} = \frac{1}{m} \sum_{i} \sum_{t} \delta_{u,t} x_{t}^{\top}$, summed over time.",
        r"GRU 的权重由各时间步共享，对时间求和：$W_{hh}$ 的梯度是 $\partial J / \partial W_{hh} = \frac{1}{m} \sum_{i} \sum_{t} \delta_{v,t} h_{t-1}^{\top}$，$W_{ih}$ 的梯度是 $\partial J / \partial W_{ih} = \frac{1}{m} \sum_{i} \sum_{t} \delta_{u,t} x_{t}^{\top}$。",
    ),
    "seq_gradient_attention": (
        r"Attention's $W_q$ gets $\frac{1}{m} \sum_{i} X^{\top} \partial J / \partial Q$, and $W_k$, $W_v$ likewise: $X^{\top}$ sums over the steps.",
        r"注意力的 $W_q$ 得到 $\frac{1}{m} \sum_{i} X^{\top} \partial J / \partial Q$，$W_k$、$W_v$ 同理：$X^{\top}$ 对各时间步求和。",
    ),
    # the sections of each op
    "seq_rnn_heading": ("Backpropagation through time", "随时间反向传播"),
    "seq_rnn_paths": (
        r"Unrolled over its {steps} steps (the picture in section 1), the recurrent layer is an ordinary graph whose steps share $W_{hh}$. The error term of $h_t$ is the total derivative over its two consumers: the direct path $g_t$, what the layers above send to $h_t$ {direct}, and the path through $h_{t+1}$, since $h_t$ enters $z_{t+1}$ through $W_{hh}$ (absent at $t = T$). The activation's derivative then gives $\delta_t$; for one example:",
        r"展开 {steps} 个时间步后（见第 1 节的图），循环层就是一个普通的计算图，各时间步共享 $W_{hh}$。$h_t$ 的误差项是它的两个去向上的全导数：直接路径 $g_t$，即上面的层传给 $h_t$ 的梯度{direct}；以及经过 $h_{t+1}$ 的路径，因为 $h_t$ 经 $W_{hh}$ 进入 $z_{t+1}$（$t = T$ 时没有这一项）。再乘以激活函数的导数得到 $\delta_t$；对单个样本：",
    ),
    "seq_rnn_direct_last": (
        r"(only $h_T$ feeds them here: $g_t = 0$ for $t < T$)",
        r"（这里只有 $h_T$ 进入上面的层：$t < T$ 时 $g_t = 0$）",
    ),
    "seq_rnn_direct_all": (r"(every step feeds them here)", r"（这里每个时间步都进入上面的层）"),
    "seq_rnn_weight": (
        r"$W_{hh}$ is used at every step, so its gradient is the sum over the steps of each step's contribution, per unit and as a matrix (the term $t = 1$ is 0, as $h_0 = 0$; the tensor form of section 6 averages it over the batch):",
        r"$W_{hh}$ 在每个时间步都被使用，所以它的梯度是各时间步贡献之和，逐个单元与矩阵形式如下（$t = 1$ 一项为 0，因为 $h_0 = 0$；第 6 节的张量形式再对批取平均）：",
    ),
    "seq_rnn_input": (
        r"The input gets its error term row by row: row $t$ of $\partial J / \partial x$ is what step $t$ sends back through $W_{xh}$ (the tensor form stacks these rows):",
        r"输入的误差项逐行得到：$\partial J / \partial x$ 的第 $t$ 行是第 $t$ 步经 $W_{xh}$ 传回的梯度（张量形式把这些行叠放起来）：",
    ),
    "seq_rnn_numbers": (
        r"At the worked example (the first example of section ``{example}''), the two paths and their sum, step by step from the last:",
        r"在数值算例中（“{example}”一节的第一个样本），两条路径及其和，从最后一步往回逐步列出：",
    ),
    "seq_rnn_vanishing": ("Vanishing and exploding gradients", "梯度消失与梯度爆炸"),
    "seq_rnn_chain": (
        r"Going back one step multiplies by the Jacobian $\partial h_t / \partial h_{t-1}$; going back from $h_T$ to $h_t$ multiplies $T - t$ of them:",
        r"往回一步要乘以雅可比矩阵 $\partial h_t / \partial h_{t-1}$；从 $h_T$ 回到 $h_t$ 要连乘 $T - t$ 个：",
    ),
    "seq_rnn_bound": (
        r"Each factor's norm is at most $\max \lvert f'(z_k) \rvert \, \lVert W_{hh} \rVert_2$ ($f' \le 1$ for $\tanh$). Where the factors stay below 1, the product shrinks geometrically with the distance $T - t$ and the early steps get almost no gradient: the gradient vanishes. Where they exceed 1, it can grow geometrically: the gradient explodes (clipping it by its norm keeps a step bounded). At the worked example $\lVert W_{hh} \rVert_2 = {norm}$, and the spectral norms of the factors and their products are:",
        r"每个因子的范数不超过 $\max \lvert f'(z_k) \rvert \, \lVert W_{hh} \rVert_2$（$\tanh$ 的 $f' \le 1$）。因子小于 1 时，乘积随距离 $T - t$ 按几何级数缩小，前面的时间步几乎得不到梯度：梯度消失。因子大于 1 时，乘积可能按几何级数增长：梯度爆炸（按范数裁剪梯度可使每一步有界）。在数值算例中 $\lVert W_{hh} \rVert_2 = {norm}$，各因子及其乘积的谱范数为：",
    ),
    "seq_rnn_col_step": ("step $t$", "时间步 $t$"),
    "seq_rnn_col_factor": (
        r"$\lVert \partial h_t / \partial h_{t-1} \rVert_2$",
        r"$\lVert \partial h_t / \partial h_{t-1} \rVert_2$",
    ),
    "seq_rnn_col_product": (
        r"$\lVert \partial h_T / \partial h_t \rVert_2$",
        r"$\lVert \partial h_T / \partial h_t \rVert_2$",
    ),
    "seq_rnn_col_bound": (
        r"bound $\prod_k \max \lvert f'(z_k) \rvert \, \lVert W_{hh} \rVert_2$",
        r"上界 $\prod_k \max \lvert f'(z_k) \rvert \, \lVert W_{hh} \rVert_2$",
    ),
    "seq_rnn_shrinks": (
        r"Over these {steps} steps the norm of $\partial h_T / \partial h_1$ is {value}, below 1: what reaches $h_1$ from $h_T$ is already damped. Over a long sequence, a product of factors like this vanishes geometrically; it explodes where they are larger than 1.",
        r"在这 {steps} 个时间步上 $\partial h_T / \partial h_1$ 的范数为 {value}，小于 1：从 $h_T$ 传到 $h_1$ 的梯度已被削弱。在长序列上，这样的因子连乘会按几何级数消失；因子大于 1 时则会爆炸。",
    ),
    "seq_rnn_grows": (
        r"Over these {steps} steps the norm of $\partial h_T / \partial h_1$ is {value}, above 1: what reaches $h_1$ from $h_T$ is already amplified. Over a long sequence, a product of factors like this explodes geometrically; it vanishes where they are smaller than 1.",
        r"在这 {steps} 个时间步上 $\partial h_T / \partial h_1$ 的范数为 {value}，大于 1：从 $h_T$ 传到 $h_1$ 的梯度已被放大。在长序列上，这样的因子连乘会按几何级数爆炸；因子小于 1 时则会消失。",
    ),
    "seq_lstm_heading": ("The LSTM's gates and its cell-state path", "LSTM 的门控与细胞状态路径"),
    "seq_lstm_cell": (
        r"The cell state is the LSTM's second path through time: $c_t$ enters $h_t$ and $c_{t+1}$, the latter through the forget gate alone, with no weight matrix and no squashing on the way. So $\partial J / \partial c_t$ is the sum of the path through $h_t$ and the path through $c_{t+1}$ (the total derivative over time); for one example:",
        r"细胞状态是 LSTM 在时间上的第二条路径：$c_t$ 进入 $h_t$ 与 $c_{t+1}$，后者只经过遗忘门，途中没有权重矩阵，也没有压缩。所以 $\partial J / \partial c_t$ 是经过 $h_t$ 的路径与经过 $c_{t+1}$ 的路径之和（对时间的全导数）；对单个样本：",
    ),
    "seq_lstm_gates": (
        r"Each gate's error term is what reaches the gate times its activation's derivative ($\sigma' = \sigma (1 - \sigma)$, $\tanh' = 1 - \tanh^2$). Stacked in PyTorch's order they are the error term of $z_t$, which goes back through $W_{hh}$ to $h_{t-1}$ (besides its direct path $g_{t-1}$) and gives the shared weights their gradients, summed over the steps:",
        r"每个门的误差项是到达该门的梯度乘以其激活函数的导数（$\sigma' = \sigma (1 - \sigma)$，$\tanh' = 1 - \tanh^2$）。按 PyTorch 的顺序叠放，就是 $z_t$ 的误差项；它经 $W_{hh}$ 传回 $h_{t-1}$（另加直接路径 $g_{t-1}$），并给出共享权重的梯度，对各时间步求和：",
    ),
    "seq_lstm_chain": (
        r"Along the cell path alone, going back from $c_T$ to $c_t$ multiplies the forget gates elementwise, with no $W_{hh}$ and no $f'$ in the product: forget gates near 1 carry the gradient over many steps, which is why an LSTM suffers much less from vanishing gradients than a plain recurrent layer:",
        r"仅沿细胞状态路径，从 $c_T$ 回到 $c_t$ 是逐元素连乘遗忘门，乘积中没有 $W_{hh}$，也没有 $f'$：接近 1 的遗忘门能把梯度传过很多时间步，这就是 LSTM 的梯度消失远比普通循环层轻的原因：",
    ),
    "seq_lstm_numbers": (
        r"At the worked example (first example), the forget gates, the two paths of $\delta_{c,t}$ and the cell path's products:",
        r"在数值算例中（第一个样本），遗忘门、$\delta_{c,t}$ 的两条路径及细胞状态路径上的乘积：",
    ),
    "seq_gru_heading": ("The GRU's gates and its update path", "GRU 的门控与更新门路径"),
    "seq_gru_gates": (
        r"Each gate's error term is what reaches the gate times its activation's derivative; the reset gate's reaches it through $n_t$, where it multiplies $v_{n,t}$. Stacked, they are the error terms of $u_t$ and $v_t$ (in $v_t$ the block of $n$ is multiplied by $r_t$); for one example:",
        r"每个门的误差项是到达该门的梯度乘以其激活函数的导数；重置门的梯度经 $n_t$ 到达，在那里它乘以 $v_{n,t}$。叠放起来就是 $u_t$ 与 $v_t$ 的误差项（$v_t$ 中 $n$ 的那一块要乘以 $r_t$）；对单个样本：",
    ),
    "seq_gru_state": (
        r"$h_{t-1}$ gets three terms (the total derivative over time): its direct path $g_{t-1}$, the path straight through the interpolation $z_t \odot h_{t-1}$, and the path through $W_{hh}$; the shared weights sum over the steps:",
        r"$h_{t-1}$ 得到三项（对时间的全导数）：直接路径 $g_{t-1}$、直接经过插值 $z_t \odot h_{t-1}$ 的路径，以及经过 $W_{hh}$ 的路径；共享权重对各时间步求和：",
    ),
    "seq_gru_chain": (
        r"Along the interpolation path alone, going back from $h_T$ to $h_t$ multiplies the update gates elementwise, with no weight matrix on the way, as the LSTM's cell path does with its forget gates:",
        r"仅沿插值路径，从 $h_T$ 回到 $h_t$ 是逐元素连乘更新门，途中没有权重矩阵，与 LSTM 的细胞状态路径连乘遗忘门一样：",
    ),
    "seq_gru_numbers": (
        r"At the worked example (first example), the update gates, the two parts of $\delta_{h,t}$ (straight through the interpolation, and the rest) and the interpolation path's products:",
        r"在数值算例中（第一个样本），更新门、$\delta_{h,t}$ 的两部分（直接经过插值的，以及其余的）与插值路径上的乘积：",
    ),
    "seq_attention_heading": ("The gradients of attention", "注意力的梯度"),
    "seq_attention_values": (
        r"The output $O = A V$ is a product of two matrices of the example, so its error term goes to both; for one example:",
        r"输出 $O = A V$ 是该样本的两个矩阵之积，所以它的误差项传给两者；对单个样本：",
    ),
    "seq_attention_softmax": (
        r"Row $t$ of $A$ is the softmax of row $t$ of $S$, so its Jacobian is $\operatorname{diag}(a_t) - a_t a_t^{\top}$: every score of a row moves every weight of that row (softmax is not elementwise; the off-diagonal terms $-a_{t,u} a_{t,v}$ count). Row by row and entry by entry:",
        r"$A$ 的第 $t$ 行是 $S$ 第 $t$ 行的 softmax，所以它的雅可比矩阵是 $\operatorname{diag}(a_t) - a_t a_t^{\top}$：一行中的每个得分都影响该行的每个权重（softmax 不是逐元素的，非对角项 $-a_{t,u} a_{t,v}$ 不能丢）。逐行与逐元素：",
    ),
    "seq_attention_causal": (
        r"With the causal mask, $a_{t,u} = 0$ for $u > t$, and so is $\partial J / \partial s_{t,u}$: the entries above the diagonal of $A$ and of $\partial J / \partial S$ are 0 (row $t$ keeps columns $1, \dots, t$), here {entries}.",
        r"有因果掩码时，$u > t$ 的 $a_{t,u} = 0$，$\partial J / \partial s_{t,u}$ 也为 0：$A$ 与 $\partial J / \partial S$ 对角线以上的元素为 0（第 $t$ 行只保留第 $1, \dots, t$ 列），这里是 {entries}。",
    ),
    "seq_attention_no_mask": (
        r"This layer has no causal mask, so every weight is positive and every entry of $\partial J / \partial S$ can be nonzero; with one (\texttt{causal = true}) the entries above the diagonal ($u > t$) of both would be 0.",
        r"这一层没有因果掩码，所以每个权重都为正，$\partial J / \partial S$ 的每个元素都可能非零；若有因果掩码（\texttt{causal = true}），两者对角线以上（$u > t$）的元素都为 0。",
    ),
    "seq_attention_scores": (
        r"The scores are $S = Q K^{\top} / \sqrt{d_k}$, so the factor $1/\sqrt{d_k} = {scale}$ multiplies the error terms of both $Q$ and $K$ (here $d_k = {dim}$):",
        r"得分为 $S = Q K^{\top} / \sqrt{d_k}$，所以因子 $1/\sqrt{d_k} = {scale}$ 同时乘在 $Q$ 与 $K$ 的误差项上（这里 $d_k = {dim}$）：",
    ),
    "seq_attention_weights": (
        r"$Q$, $K$ and $V$ are linear in the input, each through its own weight: a weight's gradient is the input's transpose times that error term (which sums over the steps), and the input collects all three:",
        r"$Q$、$K$ 与 $V$ 都是输入的线性函数，各有自己的权重：权重的梯度是输入的转置乘以相应的误差项（对各时间步求和），输入则汇集三者：",
    ),
    "seq_attention_numbers": (
        r"At the worked example (first example), step 1's weights $a_1$ and their Jacobian; each row of the Jacobian sums to 0, as the weights of a row sum to 1, and so does each row of $\partial J / \partial S$:",
        r"在数值算例中（第一个样本），第 1 步的权重 $a_1$ 及其雅可比矩阵；雅可比矩阵每行之和为 0（一行权重之和为 1），$\partial J / \partial S$ 的每行之和也为 0：",
    ),
    "seq_figure_unrolled": (
        "Right: the recurrent layer unrolled over its {steps} steps, the same weights at every step.",
        "右图：循环层按 {steps} 个时间步展开，每一步用同样的权重。",
    ),
    "seq_above": ("layers above", "上面的层"),
}
_MESSAGES.update(_SEQUENCE_MESSAGES)


def catalogue(lang: str) -> SimpleNamespace:
    """All messages in one language, as attributes (``msg.forward``)."""
    if lang not in LANGUAGES:
        raise KeyError(f"unknown language {lang!r}; known: {', '.join(LANGUAGES)}")
    index = LANGUAGES.index(lang)
    return SimpleNamespace(**{key.replace("-", "_"): pair[index] for key, pair in _MESSAGES.items()})
