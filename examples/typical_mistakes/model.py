import torch
import torch.nn as nn
import torch.nn.functional as F


class DropoutMLP(nn.Module):
    def __init__(self, drop_prob=0.0):
        super(DropoutMLP, self).__init__()
        self.linear1 = nn.Linear(32 * 32 * 3, 256)
        self.linear2 = nn.Linear(256, 128)
        self.linear3 = nn.Linear(128, 10)
        self.drop_prob = drop_prob

    def forward(self, x):
        x = torch.flatten(x, start_dim=1)
        h = torch.sigmoid(F.dropout(self.linear1(x), self.drop_prob, training=self.training))
        h = torch.sigmoid(F.dropout(self.linear2(h), self.drop_prob, training=self.training))
        return self.linear3(h)
