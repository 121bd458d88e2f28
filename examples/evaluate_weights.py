"""Model-card tables of several checkpoints: a thin loop over `vokit eval model` (vokit.app.model_card).

vokit eval model src/vokit/weights/coopnet-synthetic.pt --sequences 4 --frames 60 \
        --real ../shared/data/kitti_odom01_51f ../shared/data/7scenes_redkitchen_300f/data
python examples/evaluate_weights.py --weights src/vokit/weights/coopnet-synthetic.pt \
        src/vokit/weights/monodepth2-synthetic.pt --sequences 4 --frames 60 --out runs/model-card-eval
"""

import argparse
from pathlib import Path

from vokit.app.model_card import evaluate_model


def main() -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, nargs="+", required=True)
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--scene", nargs="+", default=["street"])
    parser.add_argument("--real", nargs="*", default=[], help="dataset folders to run as well (e.g. KITTI 01)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    for path in args.weights:
        out = None if args.out is None else args.out / path.stem
        card = evaluate_model(path, args.real, args.scene, args.sequences, args.frames, out=out)
        print(f"\n{path.name} ({card.method})")
        print(card.table())


if __name__ == "__main__":
    main()
