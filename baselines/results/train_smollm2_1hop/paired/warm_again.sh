#!/bin/bash
# Re-create the warm-start policy (code 9a02325, same settings, --steps 0), check it reproduces
# the step-0 validation, then evaluate it on the validation world of code 9d4d4fc.
set -e
cd /work/wt/train-old
export PYTHONPATH=$PWD SEARCHGYM_CACHE_DIR=/tmp/sgcache-h17t HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=1
/work/main/.venv/bin/python baselines/train_curriculum.py \
  --warmup-demos 16 --warmup-epochs 2 --warmup-hops 1 \
  --steps 0 --tasks 1 --group-size 4 --max-turns 2 --max-new-tokens 40 \
  --lr 5e-5 --train-layers 6 --num-threads 1 --noise-start 0 --noise-end 0 \
  --stages '[{"task_types":["chain"],"hops":[1]}]' \
  --eval-episodes 32 --eval-hops 1 --eval-every 50 --checkpoint-every 10 \
  --out /tmp/h17t-run/warm-again --no-progress
cd /work/wt/train-run
export PYTHONPATH=$PWD
sed 's#/work/wt/train-old#/work/wt/train-run#g; s#smollm2-1hop/checkpoints/step-000100#warm-again/checkpoints/step-000000#; s#/tmp/h17t-run/reeval"#/tmp/h17t-run/reeval-warm-new"#; s#validate(args, policy, 100, log)#validate(args, policy, 0, log)#' /tmp/h17t-run/reeval.py > /tmp/h17t-run/reeval_warm_new.py
/work/main/.venv/bin/python /tmp/h17t-run/reeval_warm_new.py
echo DONE
