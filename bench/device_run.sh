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
# The GPU batch (issue 15): N submissions with the training check sharing the one GPU, each worker
# capped by torch.cuda.set_per_process_memory_fraction (0.95 / --jobs unless gpu_memory_fraction).
for jobs in 1 4; do
    python3 bench/bench_course.py --n 16 --training --data .device/cifar --device cuda --jobs "$jobs" 2>&1 \
        | tee "$OUT/bench_course_gpu_jobs$jobs.log"
done
