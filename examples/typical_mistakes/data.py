import torch
from torch.utils.data import DataLoader


def channel_stats(images):
    x = torch.from_numpy(images).float()
    x = x.permute(3, 0, 1, 2).reshape(3, -1)
    return x.mean(dim=1).tolist(), x.std(dim=1, unbiased=False).tolist()


class _Normalize:
    def __init__(self, mean, std):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    def __call__(self, img):
        x = torch.tensor(list(img.getdata()), dtype=torch.float32)
        x = x.view(img.size[1], img.size[0], 3).permute(2, 0, 1) / 255.0
        return (x - self.mean) / self.std


def normalize_transform(mean, std):
    return _Normalize(mean, std)


def make_loaders(train_set, test_set, batch_size=128):
    return (DataLoader(train_set, batch_size=batch_size, shuffle=True),
            DataLoader(test_set, batch_size=batch_size))
