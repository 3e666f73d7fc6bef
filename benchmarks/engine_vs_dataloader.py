"""The engine's in-memory index-permutation batches against a plain torch DataLoader loop,
same model, data, optimizer and batch size, in the same process. Prints samples/s and the ratio,
for the reference MLP (compute-bound) and a small MLP (where input overhead shows).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from common import best_time, device_of, mnist_like, parse_args, reference_mlp
from dlrepro.train.engine import fit

BATCH = 200
N_TRAIN = 200 * 60


def dataloader_epoch(model, data, optimizer) -> None:
    loader = DataLoader(TensorDataset(data.x, data.y), batch_size=BATCH, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    model.train()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def compare(name: str, hidden, device, repeats: int) -> None:
    train, val = mnist_like(N_TRAIN, device), mnist_like(1, device, seed=1)
    engine_model, loader_model = reference_mlp(hidden).to(device), reference_mlp(hidden).to(device)
    optimizer = torch.optim.Adam(loader_model.parameters(), lr=1e-3)

    def engine_epoch():
        fit(engine_model, train, val, epochs=1, batch_size=BATCH, optimizer="adam", lr=1e-3,
            lr_schedule="constant", generator=torch.Generator().manual_seed(0))

    engine_s = best_time(engine_epoch, repeats)
    loader_s = best_time(lambda: dataloader_epoch(loader_model, train, optimizer), repeats)
    print(f"{name}: engine {N_TRAIN / engine_s:.0f} samples/s, "
          f"DataLoader {N_TRAIN / loader_s:.0f} samples/s, ratio engine / DataLoader {loader_s / engine_s:.2f}")


def main() -> None:
    args = parse_args(__doc__)
    device = device_of(args.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {BATCH}")
    compare("784-5x1024-10 (reference)", (1024,) * 5, device, args.repeats)
    compare("784-128-10 (small)", (128,), device, args.repeats)


if __name__ == "__main__":
    main()
