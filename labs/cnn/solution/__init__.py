"""The CNN lab's four parts: batchnorm, model, augment, train."""
