"""The CNN lab, the course's next after regularization: a small convolutional network on CIFAR-10 with
batch normalization (written by hand, then as layers) and data augmentation, trained with a loop that
switches the model between train and eval mode. Its reference and stubs live in this package
(``solution/``, ``assignment/``); its contract is ``README.md``."""
from grader.lab import Lab, Part

LAB = Lab(
    name="cnn",
    parts=(
        Part("batchnorm", ("batch_norm",), ("배치 정규화 직접 구현", "Batch normalization by hand")),
        Part("model", ("SmallCNN",), ("배치 정규화를 쓰는 작은 CNN", "A small CNN with batch normalization")),
        Part("augment", ("train_transform", "test_transform"), ("데이터 증강", "Data augmentation")),
        Part("train", ("train_epoch", "evaluate"), ("학습 루프와 평가: train/eval 모드",
                                                    "The training loop and evaluation: train and eval mode")),
        Part("experiment", title=("CIFAR-10 실험: 배치 정규화와 데이터 증강의 효과",
                                  "the experiment: what batch normalization and augmentation do on CIFAR-10")),
    ),
    notebook="lab6_cnn.ipynb",
    notebook_imports=("import torchvision",),
    title=("CNN 실습: 배치 정규화와 데이터 증강", "CNN lab: batch normalization and data augmentation"),
)
