"""Evaluate the step-100 checkpoint on the validation tasks of steps 0 and 50 (code 9a02325)."""
import json, sys, importlib.util, argparse
from pathlib import Path
sys.path.insert(0, "/work/wt/train-old")
spec = importlib.util.spec_from_file_location("tc", "/work/wt/train-old/baselines/train_curriculum.py")
tc = importlib.util.module_from_spec(spec); spec.loader.exec_module(tc)
from searchgym.llm import TransformersGenerator
from searchgym.training import RunLogger
cfg = json.loads(Path("/tmp/h17t-run/smollm2-1hop/config.json").read_text())["args"]
args = argparse.Namespace(**cfg)
args.out = Path("/tmp/h17t-run/reeval")
policy = TransformersGenerator("/tmp/h17t-run/smollm2-1hop/checkpoints/step-000100/model", device=None, dtype="float32",
                               batch_size=args.eval_batch_size, num_threads=1)
with RunLogger(args.out, tensorboard=False, wandb=False) as log:
    print(tc.validate(args, policy, 100, log))
