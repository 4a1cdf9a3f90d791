"""The table of PyTorch equivalences that tests/equivalence.py applies to the reference.

Each rule names the function(s) it rewrites. ``non_equivalent`` quotes the contract sentence a
rule breaks; ``grader_bug`` names the check that wrongly fails its form (to flip once fixed).
"""
from equivalence import Edit, Rule

L1, L2, PL = "l1_penalty", "l2_penalty", "penalized_loss"
INIT, FWD = "DropoutMLP.__init__", "DropoutMLP.forward"
STATS, NORM, LOADERS = "channel_stats", "normalize_transform", "make_loaders"
SEED, TRAIN, EVAL = "set_seed", "train_epoch", "evaluate"
LINEAR = (("_L", r"linear[123]"),)
F = ("import torch.nn.functional as F",)
TORCH = ("import torch",)
WEIGHTS = "[_M.weight for _M in _MODEL.modules() if isinstance(_M, nn.Linear)]"
SUM = "sum((_E for _W in _WS), torch.zeros(()))"
def _both(name, before, after, **kw):
    """The same edit in l1_penalty and l2_penalty."""
    return Rule(name, "penalties", (Edit(L1, before, after), Edit(L2, before, after)), **kw)


def _linear(name, after, **kw):
    return Rule(name, "model", (Edit(FWD, "self._L(_X)", after),), only=LINEAR, **kw)


RULES = (
    # ---- penalties: the L1 sum
    Rule("l1_norm_p1", "penalties", (Edit(L1, "_W.abs().sum()", "_W.norm(p=1)"),)),
    Rule("l1_vector_norm", "penalties", (Edit(L1, "_W.abs().sum()", "torch.linalg.vector_norm(_W, 1)"),)),
    Rule("l1_torch_functions", "penalties", (Edit(L1, "_W.abs().sum()", "torch.sum(torch.abs(_W))"),)),
    Rule("l1_sign", "penalties", (Edit(L1, "_W.abs().sum()", "(_W * _W.sign()).sum()"),)),
    Rule("l1_flatten_abs", "penalties", (Edit(L1, "_W.abs().sum()", "_W.flatten().abs().sum(0)"),)),
    # ---- penalties: the L2 sum
    Rule("l2_mul", "penalties", (Edit(L2, "_W.pow(2).sum()", "(_W * _W).sum()"),)),
    Rule("l2_dot_flat", "penalties", (Edit(L2, "_W.pow(2).sum()", "torch.dot(_W.flatten(), _W.flatten())"),)),
    Rule("l2_matrix_norm_sq", "penalties", (Edit(L2, "_W.pow(2).sum()", "torch.linalg.matrix_norm(_W) ** 2"),)),
    Rule("l2_square", "penalties", (Edit(L2, "_W.pow(2).sum()", "_W.square().sum()"),)),
    Rule("l2_norm_sq", "penalties", (Edit(L2, "_W.pow(2).sum()", "_W.norm() ** 2"),)),
    Rule("l2_pow_float", "penalties", (Edit(L2, "_W.pow(2)", "_W ** 2.0"),)),
    Rule("l2_handout_pow", "penalties", (Edit(L2, "_W.pow(2)", "_W.pow(2.0)"),)),
    # ---- penalties: which weights, and how they are summed
    _both("named_modules", WEIGHTS,
          "[_M.weight for _, _M in _MODEL.named_modules() if isinstance(_M, nn.Linear)]"),
    _both("comprehension_to_loop", f"_V = {WEIGHTS}",
          "_V = []\nfor _M in _MODEL.modules():\n    if isinstance(_M, nn.Linear):\n        _V.append(_M.weight)"),
    _both("type_check_issubclass", "isinstance(_M, nn.Linear)", "issubclass(type(_M), torch.nn.Linear)"),
    _both("sum_stack", SUM, "torch.stack([_E for _W in _WS]).sum()",
          non_equivalent="'model is any nn.Module': on a model without nn.Linear torch.stack([]) raises "
                         "instead of returning a zero penalty"),
    _both("sum_stack_with_zero", SUM, "torch.stack([torch.zeros(())] + [_E for _W in _WS]).sum()"),
    _both("sum_loop", f"return {SUM}", "total = torch.zeros(())\nfor _W in _WS:\n    total = total + _E\nreturn total"),
    _both("sum_loop_inplace", f"return {SUM}", "total = torch.zeros(())\nfor _W in _WS:\n    total += _E\nreturn total"),
    _both("sum_reduce", SUM, "functools.reduce(operator.add, [_E for _W in _WS], torch.zeros(()))",
          imports=("import functools", "import operator")),
    _both("sum_start_tensor_zero", SUM, "sum((_E for _W in _WS), torch.tensor(0.0))"),
    # ---- penalized_loss
    Rule("kind_if_chain", "penalties", (Edit(
        PL, "_T = {'l1': l1_penalty, 'l2': l2_penalty}\nif kind not in _T:\n    _BODY\n"
            "return loss + lmbd * _T[kind](model) / batch_size / 2",
        "if kind == 'l1':\n    penalty = l1_penalty(model)\nelif kind == 'l2':\n    penalty = l2_penalty(model)\n"
        "else:\n    _BODY\nreturn loss + lmbd * penalty / batch_size / 2"),)),
    Rule("penalty_factor_first", "penalties", (Edit(PL, "_L + _K * _P / _B / 2", "_L + _K / (2 * _B) * _P"),)),
    Rule("penalty_torch_add_alpha", "penalties", (Edit(PL, "_L + _K * _P / _B / 2",
                                                       "torch.add(_L, _P, alpha=_K / _B / 2)"),)),
    Rule("penalty_inplace_add", "penalties", (Edit(PL, "return _L + _R", "_L += _R\nreturn _L"),)),
    # ---- model: how each Linear layer is computed
    _linear("linear_functional", "F.linear(_X, self._L.weight, self._L.bias)", imports=F),
    _linear("linear_matmul_operator", "_X @ self._L.weight.T + self._L.bias"),
    _linear("linear_addmm", "torch.addmm(self._L.bias, _X, self._L.weight.t())", imports=TORCH),
    _linear("linear_torch_matmul", "torch.matmul(_X, self._L.weight.transpose(0, 1)) + self._L.bias",
            imports=TORCH),
    _linear("linear_einsum", "torch.einsum('bi,oi->bo', _X, self._L.weight) + self._L.bias", imports=TORCH),
    _linear("linear_tensordot", "torch.tensordot(_X, self._L.weight, dims=([1], [1])) + self._L.bias",
            imports=TORCH),
    _linear("linear_forward_method", "self._L.forward(_X)"),
    # ---- model: sigmoid
    Rule("sigmoid_torch", "model", (Edit(FWD, "self.activation(_X)", "torch.sigmoid(_X)"),), imports=TORCH),
    Rule("sigmoid_method", "model", (Edit(FWD, "self.activation(_X)", "_X.sigmoid()"),)),
    Rule("sigmoid_formula", "model", (Edit(FWD, "self.activation(_X)", "1 / (1 + torch.exp(-_X))"),),
         imports=TORCH),
    Rule("sigmoid_expit", "model", (Edit(FWD, "self.activation(_X)", "torch.special.expit(_X)"),), imports=TORCH),
    Rule("sigmoid_module_inline", "model", (Edit(FWD, "self.activation(_X)", "nn.Sigmoid()(_X)"),)),
    # ---- model: dropout
    Rule("dropout_functional", "model", (Edit(FWD, "self.dropout(_X)",
                                              "F.dropout(_X, self.dropout.p, training=self.training)"),),
         imports=F),
    Rule("dropout_inverted_mask", "model", (Edit(
        FWD, "_A = self.dropout(_X)",
        "_A = _X\nif self.training and self.dropout.p > 0:\n"
        "    keep = (torch.rand_like(_A) >= self.dropout.p).to(_A.dtype)\n"
        "    _A = _A * keep / (1 - self.dropout.p) if self.dropout.p < 1 else torch.zeros_like(_A)"),),
        imports=TORCH),
    Rule("dropout_bernoulli_mask", "model", (Edit(
        FWD, "_A = self.dropout(_X)",
        "_A = _X\nif self.training and self.dropout.p == 1:\n    _A = _A * 0\nelif self.training:\n"
        "    _A = _A * torch.bernoulli(torch.full_like(_A, 1 - self.dropout.p)) / (1 - self.dropout.p)"),),
        imports=TORCH),
    Rule("dropout_prob_attribute", "model", (
        Edit(INIT, "self.dropout = nn.Dropout(_P)",
             "self.drop_prob = _P\nself.dropout = nn.Dropout(p=self.drop_prob)"),)),
    Rule("dropout_two_modules", "model", (
        Edit(INIT, "self.dropout = nn.Dropout(_P)", "self.dropout = nn.Dropout(_P)\nself.dropout2 = nn.Dropout(_P)"),
        Edit(FWD, "_A = self.dropout(self.activation(self.linear2(_X)))",
             "_A = self.dropout2(self.activation(self.linear2(_X)))"))),
    # ---- model: flattening
    Rule("flatten_view", "model", (Edit(FWD, "_X.reshape(len(_X), -1)", "_X.view(-1, 3072)"),)),
    Rule("flatten_view_size", "model", (Edit(FWD, "_X.reshape(len(_X), -1)", "_X.view(_X.size(0), -1)"),)),
    Rule("flatten_method", "model", (Edit(FWD, "_X.reshape(len(_X), -1)", "_X.flatten(1)"),)),
    Rule("flatten_torch", "model", (Edit(FWD, "_X.reshape(len(_X), -1)", "torch.flatten(_X, start_dim=1)"),),
         imports=TORCH),
    Rule("flatten_reshape_3072", "model", (Edit(FWD, "_X.reshape(len(_X), -1)", "_X.reshape(-1, 32 * 32 * 3)"),)),
    Rule("flatten_module", "model", (
        Edit(INIT, "self.dropout = nn.Dropout(_P)", "self.dropout = nn.Dropout(_P)\nself.flatten = nn.Flatten()"),
        Edit(FWD, "_X.reshape(len(_X), -1)", "self.flatten(_X)"))),
    # ---- model: structure
    Rule("sequential", "model", (
        Edit(INIT, "self.dropout = nn.Dropout(_P)",
             "self.dropout = nn.Dropout(_P)\nself.net = nn.Sequential(self.linear1, self.activation, self.dropout, "
             "self.linear2, self.activation, self.dropout, self.linear3)"),
        Edit(FWD, "_A = self.dropout(self.activation(self.linear1(_X)))\n"
                  "_B = self.dropout(self.activation(self.linear2(_A)))\nreturn self.linear3(_B)",
             "return self.net(_X)"))),
    Rule("forward_one_expression", "model", (Edit(
        FWD, "_A = self.dropout(self.activation(self.linear1(_X)))\n"
             "_B = self.dropout(self.activation(self.linear2(_A)))\nreturn self.linear3(_B)",
        "return self.linear3(self.dropout(self.activation(self.linear2("
        "self.dropout(self.activation(self.linear1(_X)))))))"),)),
    Rule("super_explicit", "model", (Edit(INIT, "super().__init__()", "super(DropoutMLP, self).__init__()"),)),
    # ---- data: channel_stats
    Rule("stats_streaming", "data", (Edit(
        STATS, "_P = _E\nreturn _R",
        "images = np.asarray(images)\n"
        "chunks = [images[i:i + 1000].reshape(-1, 3).astype(np.float64) / 255.0 for i in range(0, len(images), 1000)]\n"
        "count = sum(len(c) for c in chunks)\n"
        "mean = sum(c.sum(axis=0) for c in chunks) / count\n"
        "std = np.sqrt(sum(((c - mean) ** 2).sum(axis=0) for c in chunks) / count)\n"
        "return tuple(mean.tolist()), tuple(std.tolist())"),)),
    Rule("stats_torch_float64", "data", (Edit(
        STATS, "_P = _E\nreturn _R",
        "pixels = torch.tensor(np.asarray(images), dtype=torch.float64).reshape(-1, 3) / 255.0\n"
        "return pixels.mean(0).tolist(), pixels.std(0, correction=0).tolist()"),)),
    Rule("stats_axes", "data", (Edit(
        STATS, "_P = _E\nreturn _R",
        "x = np.asarray(images, dtype=np.float64) / 255.0\n"
        "return list(x.mean(axis=(0, 1, 2))), list(x.std(axis=(0, 1, 2)))"),)),
    Rule("stats_var_sqrt", "data", (Edit(STATS, "_P.std(axis=0)", "np.sqrt(_P.var(axis=0))"),)),
    Rule("stats_float64_astype", "data", (Edit(STATS, "np.asarray(_I, dtype=np.float64)",
                                               "np.array(_I).astype('float64')"),)),
    # ---- data: the transform and the loaders
    Rule("normalize_lambda", "data", (Edit(
        NORM, "transforms.Normalize(_M, _S)",
        "transforms.Lambda(lambda t: (t - torch.as_tensor(_M, dtype=t.dtype).view(3, 1, 1)) "
        "/ torch.as_tensor(_S, dtype=t.dtype).view(3, 1, 1))"),)),
    Rule("normalize_function", "data", (Edit(
        NORM, "return transforms.Compose([transforms.ToTensor(), transforms.Normalize(_M, _S)])",
        "def transform(image):\n    from torchvision.transforms import functional as TF\n"
        "    return TF.normalize(TF.to_tensor(image), _M, _S)\nreturn transform"),)),
    Rule("loader_default_shuffle", "data", (Edit(LOADERS, "DataLoader(_D, batch_size=_B, shuffle=False)",
                                                 "DataLoader(_D, _B)"),)),
    Rule("loader_random_sampler", "data", (Edit(
        LOADERS, "DataLoader(_D, batch_size=_B, shuffle=True)",
        "DataLoader(_D, batch_size=_B, sampler=torch.utils.data.RandomSampler(_D))"),)),
    # ---- train: set_seed
    Rule("seed_reverse_order", "train", (Edit(
        SEED, "random.seed(_S)\nnp.random.seed(_S)\ntorch.manual_seed(_S)\ntorch.cuda.manual_seed_all(_S)",
        "torch.cuda.manual_seed_all(_S)\ntorch.manual_seed(_S)\nnp.random.seed(_S)\nrandom.seed(_S)"),)),
    Rule("seed_torch_random", "train", (Edit(SEED, "torch.manual_seed(_S)", "torch.random.manual_seed(_S)"),)),
    # ---- train: train_epoch
    Rule("to_device_two_lines", "train", (
        Edit(TRAIN, "_A, _B = (_A.to(_D), _B.to(_D))", "_A = _A.to(_D)\n_B = _B.to(_D)"),
        Edit(EVAL, "_A, _B = (_A.to(_D), _B.to(_D))", "_A = _A.to(_D)\n_B = _B.to(_D)"))),
    Rule("zero_grad_first", "train", (Edit(
        TRAIN, "_L = _E1\n_L = _E2\n_O.zero_grad()", "_O.zero_grad()\n_L = _E1\n_L = _E2"),)),
    Rule("zero_grad_keep_tensors", "train", (Edit(TRAIN, "_O.zero_grad()", "_O.zero_grad(set_to_none=False)"),)),
    Rule("logits_variable", "train", (Edit(TRAIN, "_L = _C(_M(_X), _Y)", "logits = _M(_X)\n_L = _C(logits, _Y)"),)),
    Rule("loss_detach_accumulate", "train", (
        Edit(TRAIN, "_T += _L.item() * len(_X)", "_T += _L.detach() * _X.size(0)"),
        Edit(TRAIN, "return _T / _C", "return float(_T) / _C"))),
    Rule("len_to_shape", "train", (Edit(TRAIN, "len(_X)", "_X.shape[0]"), Edit(EVAL, "len(_X)", "_X.size(0)"))),
    Rule("count_labels", "train", (Edit(TRAIN, "_C += len(_X)", "_C += y.numel()"),)),
    Rule("train_mode_flag", "train", (Edit(TRAIN, "_M.train()", "_M.train(True)"),
                                      Edit(EVAL, "_M.eval()", "_M.train(False)"))),
    Rule("batch_unpack_in_body", "train", (Edit(
        TRAIN, "for (_X, _Y) in _D:\n    _BODY", "for batch in _D:\n    (_X, _Y) = batch\n    _BODY"),)),
    # ---- train: evaluate
    Rule("inference_mode", "train", (Edit(EVAL, "torch.no_grad()", "torch.inference_mode()"),)),
    Rule("set_grad_enabled_block", "train", (Edit(EVAL, "torch.no_grad()", "torch.set_grad_enabled(False)"),)),
    Rule("accuracy_torch_max", "train", (Edit(EVAL, "_Z.argmax(dim=1)", "torch.max(_Z, 1)[1]"),)),
    Rule("accuracy_eq_method", "train", (Edit(EVAL, "(_P == _Y).sum().item()", "int(_P.eq(_Y).sum())"),)),
    Rule("eval_loss_detach_accumulate", "train", (
        Edit(EVAL, "_T += _E.item() * len(_X)", "_T += _E * _X.size(0)"),
        Edit(EVAL, "return (_T / _C, _A / _C)", "return (float(_T) / _C, _A / _C)"))),
    Rule("eval_whole_array", "train", (Edit(
        EVAL, "for (_X, _Y) in _D:\n    _BODY",
        "outputs, labels = [], []\nfor x, y in loader:\n    outputs.append(model(x.to(device)))\n"
        "    labels.append(y.to(device))\nlogits, y = torch.cat(outputs), torch.cat(labels)\n"
        "count = len(y)\ntotal_loss = criterion(logits, y).item() * count\n"
        "correct = (logits.argmax(1) == y).sum().item()"),)),
)
