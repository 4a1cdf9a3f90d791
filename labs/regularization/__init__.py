"""The regularization lab (handout: ``../shared/seeds/regularization-lab.md``): L1/L2 penalties, dropout,
input normalization and the training loop, then the CIFAR-10 experiment. Its stubs are
``assignment/``, its reference ``solution/``."""
from grader.lab import Lab, Part

LAB = Lab(
    name="regularization",
    parts=(
        Part("penalties", ("l1_penalty", "l2_penalty", "penalized_loss"), ("L1 L2 정규화", "L1 and L2 penalties")),
        Part("model", ("DropoutMLP",), ("드롭아웃", "Dropout")),
        Part("data", ("channel_stats", "normalize_transform", "make_loaders"),
             ("입력 정규화와 데이터 로더", "Input normalization and data loaders")),
        Part("train", ("set_seed", "train_epoch", "evaluate"),
             ("Seed 고정, 학습 루프, 평가", "Seeding, the training loop and evaluation")),
        Part("experiment", title=("CIFAR-10 실험: 정규화가 테스트 손실을 낮추는가",
                                  "the experiment: your whole pipeline trained on CIFAR-10")),  # a stage, not a file
    ),
    notebook="lab5_regularization.ipynb",
    notebook_imports=("import torchvision",),
    title=("정규화 실습", "Regularization lab"),
    reference="solution",  # the repository's top level, as students and TAs know it
    stubs="assignment",
)
