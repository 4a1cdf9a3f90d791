#!/usr/bin/env bash
# One prepared run on a lent GPU machine (see README "Benchmarks"): the whole check's wall time,
# start-up included, and the training verdict's robustness over 20 seeds on the GPU.
# Expects the check's CIFAR-10 subset in .device/cifar (python bench/subset_copy.py data .device/cifar).
set -u
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/reglab-device}
mkdir -p "$OUT"
nvidia-smi -L
python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())"
for i in 1 2 3; do
    s=$(date +%s.%N)
    python3 -m grader check solution --data .device/cifar --out "$OUT/check$i" > "$OUT/check$i.log" 2>&1
    echo "check solution (with training) run $i: rc $? $(python3 -c "print(f'{$(date +%s.%N) - $s:.2f} s')")"
    tail -n 3 "$OUT/check$i.log"
done
grep -h '"device"\|seconds' "$OUT/check3/solution/results.json" | head -3
python3 bench/bench_training.py --data .device/cifar --seeds 20 --device cuda 2>&1 | tee "$OUT/bench_training_gpu.log"
